// The FTS run splitter and the index's lookup key splitting.
//
// 1. RunSplitter over the input cut into pieces at byte 0x01 (not a
//    separator, so runs continue across pieces): every whitespace-free substring of
//    up to kMaxExact bytes must lie inside one emitted run, and no run
//    is longer than kMaxRun or contains a separator.
// 2. A real Xapian index in a scratch directory: the input is indexed as
//    one mail (body, a header named by the input, an attachment, HTML),
//    then searched with keys made from the input (split by lookup into
//    runs). A key that is one run of the body must find the mail.
#include <memory>
#include <string>
#include <vector>

#include "fts/fts_index.hpp"
#include "fuzz_util.hpp"

using namespace tresor;
using tresor::fts::RunSplitter;

namespace {

void check_splitter(std::string_view in)
{
	std::vector<std::string_view> pieces = fuzz::split(in, '\x01');
	std::string text; // the pieces joined: what the splitter saw
	std::vector<std::string> runs;
	RunSplitter sp;
	auto emit = [&](std::string_view r) { runs.emplace_back(r); };
	for (std::string_view p : pieces) {
		sp.feed(p, emit);
		text += p;
	}
	sp.finish(emit);
	for (const std::string &r : runs) {
		FUZZ_CHECK(!r.empty() && r.size() <= RunSplitter::kMaxRun);
		for (char c : r)
			FUZZ_CHECK(!RunSplitter::is_separator(c));
	}
	if (text.size() > 2000)
		return; // the check below is quadratic
	// every maximal whitespace-free stretch: each window of kMaxExact
	// bytes (or the whole stretch when shorter) is inside some run
	std::size_t i = 0;
	while (i < text.size()) {
		while (i < text.size() && RunSplitter::is_separator(text[i]))
			i++;
		std::size_t start = i;
		while (i < text.size() && !RunSplitter::is_separator(text[i]))
			i++;
		std::string_view stretch(text.data() + start, i - start);
		if (stretch.empty())
			continue;
		std::size_t w = std::min(stretch.size(), RunSplitter::kMaxExact);
		for (std::size_t s = 0; s + w <= stretch.size(); s++) {
			std::string_view needle = stretch.substr(s, w);
			bool found = false;
			for (const std::string &r : runs)
				if (r.find(needle) != std::string::npos) {
					found = true;
					break;
				}
			FUZZ_CHECK(found);
		}
	}
}

struct IndexState {
	std::string dir;
	std::unique_ptr<fts::Index> index;
	std::uint32_t uid = 0;
};

IndexState &state()
{
	static IndexState st;
	if (!st.index || st.uid >= 200) {
		// a fresh index now and then, so that searches stay fast
		st.index.reset();
		st.dir = fuzz::scratch_dir() + "/fts";
		fts::Index::remove(st.dir);
		fts::OpenOptions opts;
		opts.writable = true;
		opts.uidvalidity = 1;
		opts.vocabulary_from_documents = 0; // readers scan the vocabulary file
		std::string notice;
		st.index = fts::Index::open(st.dir, opts, notice);
		st.uid = 0;
	}
	return st;
}

void check_index(std::string_view in)
{
	// sections: body, header name, header value, attachment, html, keys...
	std::vector<std::string_view> s = fuzz::split(in, '\0');
	s.resize(std::max<std::size_t>(s.size(), 5));
	IndexState &st = state();
	fts::Index &idx = *st.index;
	std::uint32_t uid = ++st.uid;
	idx.begin_document(uid);
	std::string_view body = s[0];
	idx.add_text(fts::Field::body, "", body.substr(0, body.size() / 2));
	idx.add_text(fts::Field::body, "", body.substr(body.size() / 2));
	idx.end_field();
	idx.add_text(fts::Field::header, s[1], s[2]);
	idx.end_field();
	idx.add_text(fts::Field::mime_header, s[1], s[2]);
	idx.end_field();
	idx.add_text(fts::Field::header, "Subject", s[2]);
	idx.end_field();
	idx.add_text(fts::Field::attachment, "", s[3]);
	idx.add_text(fts::Field::html, "", s[4]);
	idx.end_document();
	idx.commit();

	std::vector<fts::Key> keys;
	auto key = [&](fts::KeyType type, std::string_view name, std::string_view value,
		       bool negated) {
		fts::Key k;
		k.type = type;
		k.header_name = std::string(name);
		k.value = std::string(value);
		k.negated = negated;
		keys.push_back(std::move(k));
	};
	key(fts::KeyType::body, "", body, false);
	key(fts::KeyType::text, "", s[2], false);
	key(fts::KeyType::header, s[1], s[2], false);
	key(fts::KeyType::header_approx, "FROM", s[3], true);
	for (std::size_t i = 5; i < s.size() && i < 12; i++)
		key(static_cast<fts::KeyType>(i % 4), s[1], s[i], i % 3 == 0);
	std::optional<fts::Result> r = idx.lookup(keys, false);
	// A reader scans the vocabulary file, the writer Xapian's term list:
	// the same answers.
	{
		fts::OpenOptions ro;
		ro.uidvalidity = 1;
		std::string notice;
		auto reader = fts::Index::open(st.dir, ro, notice);
		std::vector<fts::Key> again = keys;
		std::optional<fts::Result> rr = reader->lookup(again, false);
		FUZZ_CHECK(r.has_value() == rr.has_value());
		if (r && rr) {
			auto same = [](const std::vector<fts::Range> &a,
				       const std::vector<fts::Range> &b) {
				if (a.size() != b.size())
					return false;
				for (std::size_t i = 0; i < a.size(); i++)
					if (a[i].first != b[i].first || a[i].last != b[i].last)
						return false;
				return true;
			};
			FUZZ_CHECK(same(r->definite, rr->definite));
			FUZZ_CHECK(same(r->maybe, rr->maybe));
		}
	}

	// A body key that is one run of kMinIndexed to kMaxExact bytes must find
	// this mail (definite or maybe).
	std::string_view b = body.substr(0, RunSplitter::kMaxExact);
	std::size_t cut = 0;
	while (cut < b.size() && !RunSplitter::is_separator(b[cut]))
		cut++;
	b = b.substr(0, cut);
	if (b.size() >= RunSplitter::kMinIndexed) {
		std::vector<fts::Key> one;
		fts::Key k;
		k.type = fts::KeyType::body;
		k.value = std::string(b);
		one.push_back(k);
		std::optional<fts::Result> r1 = idx.lookup(one, true);
		FUZZ_CHECK(r1.has_value());
		// (else the hit could be the "maybe" above last_uid)
		FUZZ_CHECK(idx.last_uid() >= uid);
		bool hit = false;
		for (const auto *ranges : {&r1->definite, &r1->maybe})
			for (const fts::Range &rg : *ranges)
				hit |= rg.first <= uid && uid <= rg.last;
		FUZZ_CHECK(hit);
	}
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	std::string_view in = fuzz::input(data, size);
	check_splitter(in);
	(void)fts::worth_extracting(in.substr(0, in.find('\n')), in.substr(0, 512));
	check_index(in);
	return 0;
}
