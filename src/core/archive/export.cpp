#include "archive/export.hpp"

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <map>
#include <cstdlib>
#include <optional>
#include <stdexcept>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/invoices.hpp"
#include "archive/journal.hpp"
#include "archive/seal.hpp"
#include "archive/verify_text.hpp"
#include "common/posix_io.hpp"
#include "common/text.hpp"

namespace tresor {

bool valid_date(std::string_view d)
{
	if (d.size() != 10 || d[4] != '-' || d[7] != '-')
		return false;
	int parts[3] = {0, 0, 0};
	const std::size_t starts[3] = {0, 5, 8}, lengths[3] = {4, 2, 2};
	for (int k = 0; k < 3; k++) {
		for (std::size_t i = starts[k]; i < starts[k] + lengths[k]; i++) {
			if (!text::is_ascii_digit(d[i]))
				return false;
			parts[k] = parts[k] * 10 + (d[i] - '0');
		}
	}
	return std::chrono::year_month_day(std::chrono::year(parts[0]),
					   std::chrono::month(static_cast<unsigned>(parts[1])),
					   std::chrono::day(static_cast<unsigned>(parts[2])))
		.ok();
}

namespace {

// Run by root for a mail user (doveadm -u as root: only the effective uid
// is the user's), the export creates its directory and its files as root,
// so an admin's root-owned target (/srv/audit) works and what is made
// there is root's. Only around each create: the mail is read, and written
// through the descriptors, as the mail user.
class CreateAsRoot {
public:
	CreateAsRoot() : user_(::geteuid()), raised_(::getuid() == 0 && user_ != 0)
	{
		if (raised_ && ::seteuid(0) < 0)
			throw_errno("seteuid(0)");
	}
	~CreateAsRoot()
	{
		// staying root would read the user's mail as root: never go on
		if (raised_ && ::seteuid(user_) < 0)
			std::abort();
	}
	CreateAsRoot(const CreateAsRoot &) = delete;
	CreateAsRoot &operator=(const CreateAsRoot &) = delete;
	// what root created is root's, not the mail user's group's
	void own(int fd) const
	{
		if (raised_ && ::fchown(fd, 0, 0) < 0)
			throw_errno("fchown");
	}

private:
	uid_t user_;
	bool raised_;
};

// The export directory, opened without following a symbolic link; made
// (0700) when it does not exist. Refused when not empty.
int open_export_dir(const std::string &path)
{
	CreateAsRoot creator;
	bool created = false;
	int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		if (::mkdir(path.c_str(), 0700) < 0)
			throw_errno("mkdir(" + path + ")");
		created = true;
		fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0 && (errno == ELOOP || errno == ENOTDIR)) {
		struct stat st;
		if (::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode))
			throw std::runtime_error(path + " is a symbolic link: export into a "
						 "directory named by its own path");
		throw std::runtime_error(path + " exists and is not a directory");
	}
	if (fd < 0)
		throw_errno("open(" + path + ")");
	Fd owned(fd);
	if (created)
		creator.own(fd);
	Fd listing(::dup(fd));
	DIR *d = listing ? ::fdopendir(listing.get()) : nullptr;
	if (d == nullptr)
		throw_errno("opendir(" + path + ")");
	listing.release(); // closedir() closes it
	bool empty = true;
	while (struct dirent *e = ::readdir(d)) {
		if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
			empty = false;
			break;
		}
	}
	::closedir(d);
	if (!empty)
		throw std::runtime_error(path + " is not empty: export into a new or empty directory");
	return owned.release();
}

std::string read_prefix(const std::string &path, std::uint64_t bytes)
{
	Fd fd(open_retry(path, O_RDONLY | O_CLOEXEC));
	if (!fd)
		throw_errno("open(" + path + ")");
	std::string data(bytes, '\0');
	pread_full(fd.get(), data.data(), data.size(), 0, path);
	return data;
}

} // namespace

EvidenceExport::EvidenceExport(ExportOptions opts)
	: opts_(std::move(opts)),
	  hasher_(opts_.config.secret_headers, opts_.config.content_headers,
		  Hasher::Hashes::Sha256Only)
{
	if (!valid_date(opts_.from) || !valid_date(opts_.to)) {
		throw std::invalid_argument("dates must be given as YYYY-MM-DD (from '" +
					    opts_.from + "', to '" + opts_.to + "')");
	}
	if (opts_.from > opts_.to)
		throw std::invalid_argument("--from " + opts_.from + " is after --to " + opts_.to);
	if (opts_.out_dir.empty())
		throw std::invalid_argument("no export directory");
	out_fd_.reset(open_export_dir(opts_.out_dir));
	make_dir_at("mails");
	hasher_.set_sink([this](std::string_view bytes) {
		if (fd_ < 0 || !write_error_.empty())
			return;
		try {
			write_all(fd_, bytes, mails_[current_].file);
		} catch (const std::exception &e) {
			write_error_ = e.what();
		}
	});
	read_journal();
}

EvidenceExport::~EvidenceExport()
{
	if (fd_ >= 0)
		::close(fd_);
}

void EvidenceExport::make_dir_at(const std::string &rel)
{
	CreateAsRoot creator;
	if (::mkdirat(out_fd_.get(), rel.c_str(), 0700) < 0) {
		if (errno == EEXIST)
			return;
		throw_errno("mkdir(" + opts_.out_dir + "/" + rel + ")");
	}
	Fd dir(::openat(out_fd_.get(), rel.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
	if (!dir)
		throw_errno("open(" + opts_.out_dir + "/" + rel + ")");
	creator.own(dir.get());
}

int EvidenceExport::create_at(const std::string &rel)
{
	CreateAsRoot creator;
	int fd = ::openat(out_fd_.get(), rel.c_str(),
			  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		throw_errno("open(" + opts_.out_dir + "/" + rel + ")");
	Fd owned(fd);
	creator.own(fd);
	return owned.release();
}

void EvidenceExport::write_file_at(const std::string &rel, std::string_view data)
{
	Fd fd(create_at(rel));
	write_all(fd.get(), data, opts_.out_dir + "/" + rel);
	if (::close(fd.release()) < 0)
		throw_errno("close(" + opts_.out_dir + "/" + rel + ")");
}

// It may or may not have happened (verify accepts either).
void EvidenceExport::apply_interrupted_expunge(const json &rec, std::uint64_t seq)
{
	Save *s = find_in_force(rec);
	if (s != nullptr && s->mail != kNoMail && mails_[s->mail].maybe_expunged_by == 0)
		mails_[s->mail].maybe_expunged_by = seq;
}

void EvidenceExport::apply_removal(const json &rec, const std::string &event, std::uint64_t seq)
{
	Save *s = find_in_force(rec);
	if (s == nullptr)
		return;
	s->removed = true;
	auto b = boxes_.find(json_string(rec, "mailbox_guid"));
	std::uint32_t uid = static_cast<std::uint32_t>(json_uint(rec, "uid"));
	if (s->by_uid && b != boxes_.end())
		b->second.locator.forget_uid(uid);
	if (s->mail != kNoMail && mails_[s->mail].status.empty()) {
		ExportMail &m = mails_[s->mail];
		m.status = event == "purge" ? "purged" : "expunged";
		m.note = event + " journaled as seq " + std::to_string(seq);
	}
}

void EvidenceExport::apply_mailbox_delete(const json &rec, std::uint64_t seq)
{
	auto b = boxes_.find(json_string(rec, "mailbox_guid"));
	if (b == boxes_.end())
		return;
	for (const Save &s : b->second.saves) {
		if (s.removed || s.mail == kNoMail || !mails_[s.mail].status.empty())
			continue;
		mails_[s.mail].status = "deleted";
		mails_[s.mail].note = "mailbox delete journaled as seq " + std::to_string(seq);
	}
	boxes_.erase(b);
}

void EvidenceExport::read_journal()
{
	Journal journal(opts_.tresor_dir);
	// a consistent snapshot: nobody appends while the lengths are taken
	JournalLock guard(journal, Journal::kAppendLockTimeoutMs);
	std::vector<JournalFile> files = list_journal_files(opts_.tresor_dir);
	std::vector<std::uint64_t> lengths(files.size(), 0);
	std::vector<std::uint64_t> first_seq(files.size(), 0);
	std::vector<bool> starts_with_seal(files.size(), false);
	std::optional<std::size_t> first_file;    // holding the first record in range
	struct SealAt {
		SealCopy copy;
		std::size_t file = 0;
		std::uint64_t head_seq = 0;
	};
	std::vector<SealAt> seals;
	std::vector<std::pair<TsrCopy, std::size_t>> tsrs;

	for (std::size_t k = 0; k < files.size(); k++) {
		LineReader reader(files[k].path);
		std::string line;
		bool term;
		bool first_line = true;
		while (reader.next(line, term)) {
			if (!term)
				break; // an interrupted write: not part of the journal
			lengths[k] = reader.offset();
			auto j = parse_line(line);
			if (!j)
				continue;
			auto seq = record_seq(*j);
			if (!seq)
				continue;
			std::string event = json_string(*j, "event");
			std::string time = json_string(*j, "time");
			if (first_line) {
				first_seq[k] = *seq;
				starts_with_seal[k] = event == "seal";
				first_line = false;
			}
			std::string day = time.substr(0, 10);
			if (!first_file && day >= opts_.from)
				first_file = k;
			const bool in_period = day >= opts_.from && day <= opts_.to;
			if (event == "save") {
				add_save(*j, *seq, false, in_period);
			} else if (event == "adopt") {
				// an adopted mail belongs to the period of its
				// INTERNALDATE; the file holding its record must be
				// exported with it
				std::string received = json_string(*j, "internaldate").substr(0, 10);
				const bool received_in_period =
					received >= opts_.from && received <= opts_.to;
				if (received_in_period && !first_file)
					first_file = k;
				// one naming a mail already journaled counts for
				// nothing (as in verify)
				if (find_in_force(*j) == nullptr)
					add_save(*j, *seq, false, received_in_period);
			} else if (event == "interrupted") {
				std::string action = json_string(*j, "action");
				if (action == "save") {
					add_save(*j, *seq, true, in_period);
				} else if (action == "expunge") {
					apply_interrupted_expunge(*j, *seq);
				}
			} else if (event == "expunge" || event == "purge") {
				apply_removal(*j, event, *seq);
			} else if (event == "delete") {
				apply_mailbox_delete(*j, *seq);
			} else if (event == "seal") {
				std::string why;
				SealAt s;
				s.copy.seq = *seq;
				s.copy.signed_text = seal_record_signed_text(*j, why);
				s.copy.signature = base64_decode(json_string(*j, "sig")).value_or("");
				s.copy.key_id = json_string(*j, "key_id");
				s.file = k;
				s.head_seq = json_uint(*j, "head_seq");
				if (!s.copy.signed_text.empty())
					seals.push_back(std::move(s));
			} else if (event == "tsr") {
				auto der = base64_decode(json_string(*j, "tsr"));
				if (der) {
					tsrs.push_back({TsrCopy{*seq, json_uint(*j, "seal_seq"),
								std::move(*der)},
							k});
				}
			}
		}
	}
	if (files.empty())
		return;
	std::size_t start = first_file.value_or(files.size() - 1);
	// a seal opening a year's file seals the previous file's last line
	if (start > 0 && starts_with_seal[start])
		start--;
	for (std::size_t k = start; k < files.size(); k++)
		journal_.push_back(JournalCopy{files[k], lengths[k]});
	first_exported_seq_ = first_seq[start];
	for (SealAt &s : seals) {
		if (s.file >= start) {
			last_seal_head_ = std::max(last_seal_head_, s.head_seq);
			seals_.push_back(std::move(s.copy));
		}
	}
	for (auto &[t, file] : tsrs) {
		if (file >= start)
			tsrs_.push_back(std::move(t));
	}
}

void EvidenceExport::add_save(const json &rec, std::uint64_t seq, bool interrupted,
			      bool in_period)
{
	std::string mailbox_guid = json_string(rec, "mailbox_guid");
	const auto uid = interrupted ? 0u : static_cast<std::uint32_t>(json_uint(rec, "uid"));
	std::string guid = json_string(rec, "guid");
	std::string sha256 = json_string(rec, "sha256");
	if (mailbox_guid.empty() ||
	    (uid == 0 && guid.empty() && (!interrupted || sha256.empty())))
		return; // nothing to find it by (verify ignores it too)
	Box &box = boxes_[mailbox_guid];
	const std::size_t idx = box.saves.size();
	Save s;
	s.seq = seq;
	s.by_uid = uid != 0;
	s.interrupted = interrupted;
	if (uid != 0) {
		// a UID saved again replaces the old save
		if (auto old = box.locator.add_uid(uid, idx))
			box.saves[*old].removed = true;
	} else {
		box.locator.add_guid(guid, idx);
	}
	if (interrupted)
		box.locator.add_sha256(sha256, idx);
	if (in_period && !opts_.mailbox_patterns.empty())
		in_period = chosen_mailbox(json_string(rec, "mailbox"));
	if (in_period) {
		s.mail = mails_.size();
		ExportMail m;
		m.seq = seq;
		m.event = json_string(rec, "event");
		m.time = json_string(rec, "time");
		m.internaldate = json_string(rec, "internaldate");
		m.mailbox = json_string(rec, "mailbox");
		m.mailbox_guid = mailbox_guid;
		m.uidvalidity = static_cast<std::uint32_t>(json_uint(rec, "uidvalidity"));
		m.uid = uid;
		m.guid = std::move(guid);
		m.sha256 = std::move(sha256);
		m.size = json_uint(rec, "size");
		m.interrupted = interrupted;
		mails_.push_back(std::move(m));
	}
	box.saves.push_back(s);
}

// The save an expunge, purge or interrupted expunge record ends, as verify
// finds it: by UID or GUID; a purge of an interrupted save's mail found by
// its hash names it by save_seq and sha256.
EvidenceExport::Save *EvidenceExport::find_in_force(const json &rec)
{
	auto b = boxes_.find(json_string(rec, "mailbox_guid"));
	if (b == boxes_.end())
		return nullptr;
	Box &box = b->second;
	auto gone = [&box](std::size_t i) { return box.saves[i].removed; };
	auto idx = box.locator.find(static_cast<std::uint32_t>(json_uint(rec, "uid")),
				    json_string(rec, "guid"), gone);
	if (!idx && json_string(rec, "event") == "purge") {
		std::uint64_t save_seq = json_uint(rec, "save_seq");
		idx = box.locator.find_interrupted(
			json_string(rec, "sha256"), [&box, save_seq](std::size_t i) {
				return box.saves[i].removed || box.saves[i].seq != save_seq;
			});
	}
	return idx ? &box.saves[*idx] : nullptr;
}

std::optional<std::size_t> EvidenceExport::locate(std::string_view mailbox_guid,
						  std::uint32_t uid, std::string_view guid,
						  std::string_view sha256)
{
	auto b = boxes_.find(mailbox_guid);
	if (b == boxes_.end())
		return std::nullopt;
	Box &box = b->second;
	auto placed = box.locator.place(uid, guid, sha256,
					[&box](std::size_t i) { return box.saves[i].removed; });
	if (!placed || placed->again)
		return std::nullopt;
	const Save &s = box.saves[placed->save];
	// a mail saved with its UID is exported by that UID, not found here
	if (s.by_uid || s.mail == kNoMail || !mails_[s.mail].status.empty())
		return std::nullopt;
	if (uid != 0)
		mails_[s.mail].uid = uid;
	return s.mail;
}

bool EvidenceExport::wants_hashes(std::string_view mailbox_guid) const
{
	auto b = boxes_.find(mailbox_guid);
	if (b == boxes_.end() || !b->second.locator.has_interrupted())
		return false;
	const Box &box = b->second;
	for (std::size_t i = 0; i < box.saves.size(); i++) {
		const Save &s = box.saves[i];
		if (s.interrupted && !s.removed && !box.locator.placed(i) && s.mail != kNoMail &&
		    mails_[s.mail].status.empty())
			return true;
	}
	return false;
}

// Not found in the store: a problem, unless the journal itself says the
// mail may be gone or never arrived (verify does not report those).
void EvidenceExport::settle(ExportMail &m)
{
	if (m.status != "missing")
		return;
	if (m.interrupted) {
		m.status = "not-stored";
		m.note = "the interrupted save journaled as seq " + std::to_string(m.seq) +
			 " did not reach the store";
	} else if (m.maybe_expunged_by != 0) {
		m.status = "expunged";
		m.note = "the interrupted expunge journaled as seq " +
			 std::to_string(m.maybe_expunged_by) + " did happen";
	}
}

void EvidenceExport::begin_mail(std::size_t index)
{
	if (fd_ >= 0)
		throw std::logic_error("begin_mail while another mail is open");
	ExportMail &m = mails_.at(index);
	current_ = index;
	m.file = "mails/" + std::to_string(m.seq) + ".eml";
	try {
		fd_ = create_at(m.file);
	} catch (...) {
		m.file.clear();
		throw;
	}
	write_error_.clear();
	hasher_.reset();
}

void EvidenceExport::write(const void *data, std::size_t size)
{
	if (fd_ >= 0)
		hasher_.update(data, size);
}

bool EvidenceExport::end_mail()
{
	if (fd_ < 0)
		throw std::logic_error("end_mail without begin_mail");
	ExportMail &m = mails_[current_];
	HashResult r = hasher_.finish();
	int fd = fd_;
	fd_ = -1;
	if (::close(fd) < 0 && write_error_.empty())
		write_error_ = std::string("close: ") + std::strerror(errno);
	if (!write_error_.empty()) {
		{
			CreateAsRoot creator;
			::unlinkat(out_fd_.get(), m.file.c_str(), 0);
		}
		m.file.clear();
		throw std::runtime_error(write_error_);
	}
	files_.push_back(m.file);
	manifest_hashes_[m.file] = r.sha256;
	if (text::iequals(r.sha256, m.sha256)) {
		m.status = "exported";
		return true;
	}
	m.status = "modified";
	m.note = "the stored mail now has sha256 " + r.sha256;
	return false;
}

void EvidenceExport::mark(std::size_t index, std::string status, std::string note)
{
	ExportMail &m = mails_.at(index);
	m.status = std::move(status);
	m.note = std::move(note);
	settle(m);
}

void EvidenceExport::write_out(const std::string &rel, std::string_view data)
{
	std::size_t slash = rel.rfind('/');
	if (slash != std::string::npos)
		make_dir_at(rel.substr(0, slash));
	write_file_at(rel, data);
	text::add_unique(files_, rel);
	manifest_hashes_[rel] = sha256_hex(data);
}

std::vector<std::string> EvidenceExport::finish()
{
	std::vector<std::string> warnings;
	std::vector<std::string> journal_texts;
	for (const JournalCopy &c : journal_) {
		journal_texts.push_back(read_prefix(c.file.path, c.bytes));
		write_out("journal/" + c.file.name, journal_texts.back());
	}
	for (const SealCopy &s : seals_) {
		write_out("seals/" + std::to_string(s.seq) + ".txt", s.signed_text);
		write_out("seals/" + std::to_string(s.seq) + ".sig", s.signature);
	}
	for (const TsrCopy &t : tsrs_) {
		write_out("seals/" + std::to_string(t.seal_seq) + "-" + std::to_string(t.seq) +
				  ".tsr",
			  t.der);
	}
	std::vector<std::string> key_ids;
	if (!opts_.config.seal_pubkey.empty()) {
		std::vector<SealKey> keys = SealKey::load_public(opts_.config.seal_pubkey);
		std::string all;
		for (const SealKey &k : keys) {
			write_out("keys/" + k.key_id() + ".pem", k.public_pem());
			key_ids.push_back(k.key_id());
			all += k.public_pem();
		}
		write_out("seal.pub.pem", all);
	} else {
		warnings.push_back("tresor_seal_pubkey is not set: the export holds no public "
				   "key, so the seals can't be checked from it");
	}
	if (!opts_.config.tsa_ca.empty()) {
		write_out("tsa-ca.pem", read_prefix(opts_.config.tsa_ca, [&] {
				  struct stat st;
				  if (::stat(opts_.config.tsa_ca.c_str(), &st) < 0)
					  throw_errno("tresor_tsa_ca: stat(" + opts_.config.tsa_ca + ")");
				  return static_cast<std::uint64_t>(st.st_size);
			  }()));
	} else if (!tsrs_.empty()) {
		warnings.push_back("tresor_tsa_ca is not set: the export holds no TSA CA "
				   "certificate for checking the time-stamp responses");
	}

	std::string csv = "seq,time,mailbox,mailbox_guid,uidvalidity,uid,sha256,size,status,"
			  "file,event,internaldate,note\n";
	std::uint64_t unsealed = 0, first_unsealed = 0;
	std::map<std::string, unsigned> problems;
	for (ExportMail &m : mails_) {
		if (m.status.empty()) {
			m.status = "missing";
			m.note = "not exported";
			settle(m);
		}
		if (m.status == "exported" || m.status == "modified") {
			if (m.seq > last_seal_head_ && unsealed++ == 0)
				first_unsealed = m.seq;
			last_exported_seq_ = std::max(last_exported_seq_, m.seq);
		}
		if (m.status == "modified" || m.status == "missing" || m.status == "unreadable")
			problems[m.status]++;
		csv += std::to_string(m.seq) + "," + text::csv_field(m.time) + "," +
		       text::csv_field(m.mailbox) + "," + text::csv_field(m.mailbox_guid) + "," +
		       std::to_string(m.uidvalidity) + "," + std::to_string(m.uid) + "," +
		       text::csv_field(m.sha256) + "," + std::to_string(m.size) + "," + m.status +
		       "," + text::csv_field(m.file) + "," + text::csv_field(m.event) + "," +
		       text::csv_field(m.internaldate) + "," + text::csv_field(m.note) + "\n";
	}
	for (const auto &[status, n] : problems) {
		warnings.push_back(std::to_string(n) + (n == 1 ? " mail is " : " mails are ") +
				   status + " (see mails.csv)");
	}
	if (unsealed > 0) {
		warnings.push_back(std::to_string(unsealed) +
				   (unsealed == 1 ? " exported mail (seq " : " exported mails (from seq ") +
				   std::to_string(first_unsealed) +
				   ") not yet covered by a seal: run doveadm tresor seal, then "
				   "export again");
	}
	write_out("mails.csv", csv);
	write_out("invoices.csv", invoice_register(journal_texts));
	write_out("VERIFY.txt", verify_text(key_ids));

	std::sort(files_.begin(), files_.end());
	std::string manifest;
	for (const std::string &f : files_)
		manifest += manifest_hashes_[f] + "  " + f + "\n";
	write_file_at("MANIFEST.sha256", manifest);
	return warnings;
}

bool EvidenceExport::chosen_mailbox(std::string_view mailbox) const
{
	return opts_.mailbox_patterns.empty() ||
	       std::any_of(opts_.mailbox_patterns.begin(), opts_.mailbox_patterns.end(),
			   [&](const std::string &pattern) {
				   return mailbox_pattern_match(pattern, mailbox, opts_.separator);
			   });
}

// The invoice register of the period (docs/invoices.md 11), of the
// journal files as exported - exactly what they hold - and, with
// --mailbox, of the chosen mailboxes.
std::string EvidenceExport::invoice_register(const std::vector<std::string> &journal_texts) const
{
	InvoiceFilter period;
	period.from = opts_.from;
	period.to = opts_.to;
	std::vector<InvoiceEntry> entries;
	for (InvoiceEntry &e : invoice_register_of(journal_texts, period)) {
		if (chosen_mailbox(e.mailbox))
			entries.push_back(std::move(e));
	}
	return invoice_register_csv_header() + invoice_register_csv(opts_.user, entries);
}

namespace {

// text with each placeholder replaced by its value, in one pass: a value
// is never searched for placeholders itself.
std::string fill_placeholders(
	std::string_view text,
	const std::vector<std::pair<std::string_view, std::string>> &values)
{
	std::string out;
	std::size_t pos = 0;
	while (pos < text.size()) {
		std::size_t at = text.find('@', pos);
		if (at == std::string_view::npos)
			at = text.size();
		out.append(text.substr(pos, at - pos));
		pos = at;
		if (pos == text.size())
			break;
		auto value = std::find_if(values.begin(), values.end(), [&](const auto &v) {
			return text.substr(pos).starts_with(v.first);
		});
		if (value != values.end()) {
			out += value->second;
			pos += value->first.size();
		} else {
			out += '@';
			pos++;
		}
	}
	return out;
}

} // namespace

// The auditor's instructions: VERIFY.txt beside this file (each check is
// one ```sh block that runs with bash in the export directory, prints
// what it found and exits 0 only when everything it checks is right;
// tests run exactly these), then what this export holds.
std::string EvidenceExport::verify_text(const std::vector<std::string> &key_ids) const
{
	std::string key_lines;
	for (const std::string &id : key_ids)
		key_lines += "     " + id + "\n";
	std::string t = fill_placeholders(verify_text_template(),
					  {{"@USER@", opts_.user},
					   {"@FROM@", opts_.from},
					   {"@TO@", opts_.to},
					   {"@MAILBOXES@", text::join(opts_.mailbox_patterns, ", ")},
					   {"@MADE@", format_time(Clock::now())},
					   {"@KEY_IDS@\n", key_lines}});
	t += "\nSummary of this export: journal from seq " + std::to_string(first_exported_seq_) +
	     "; " + std::to_string(seals_.size()) + " seal(s), the last sealing seq " +
	     std::to_string(last_seal_head_) + "; " + std::to_string(tsrs_.size()) +
	     " time-stamp response(s).\n";
	if (!opts_.mailbox_patterns.empty()) {
		std::string patterns;
		for (const std::string &p : opts_.mailbox_patterns)
			patterns += (patterns.empty() ? "" : ", ") + p;
		t += "Only the mails saved into the mailboxes matching " + patterns +
		     " (by the name in their record; '*' any characters, '%' any "
		     "within one level); the journal is complete.\n";
	}
	if (last_exported_seq_ > last_seal_head_) {
		t += "NOTE: mails journaled after seq " + std::to_string(last_seal_head_) +
		     " are not covered by a seal in this export.\n";
	}
	return t;
}

} // namespace tresor
