// extract::Session: many documents through one `tresor-extract --serve`
// process. The same answers as the one-shot extract_text(); a hostile
// document (CPU, wall clock, memory, output size) fails alone and the next
// one gets a fresh helper; a helper killed from outside, a helper that
// ignores EOF, restarts after max_documents, fork() in the caller,
// descriptors and zombies; the --serve protocol itself; and the speed-up
// that is the point of it all.
//
// The helper is found through $TRESOR_EXTRACT, else the path compiled in
// with -DTRESOR_EXTRACT_BUILD_PATH="...".
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "extract/extract_client.hpp"
#include "test_util.hpp"

namespace extract_fixtures {
std::string sample_docx(); // test_extract_office.cpp
}

using tresor::extract::Document;
using tresor::extract::extract_text;
using testutil::exit_code;
using testutil::run_shell;
using testutil::ShellRun;
using tresor::extract::Limits;
using tresor::extract::kSanitizerBuild;
using tresor::extract::Session;

namespace {

using Clock = std::chrono::steady_clock;

std::string join(const std::vector<std::string> &items)
{
	std::string out;
	for (const std::string &s : items)
		out += (out.empty() ? "" : " | ") + s;
	return out;
}

// An executable /bin/sh script in dir.
std::string write_script(const testutil::TempDir &dir, const std::string &name,
			 const std::string &body)
{
	std::string path = dir / name;
	testutil::write_file(path, "#!/bin/sh\n" + body);
	::chmod(path.c_str(), 0755);
	return path;
}

// The real helper, told to spin on documents containing kSpin: a hostile
// document that is one for sure.
constexpr const char *kSpin = "SPIN-FOR-TESTS";

std::string spinning_helper(const testutil::TempDir &dir, const std::string &helper)
{
	return write_script(dir, "spinning-helper",
			    "exec '" + helper + "' \"$@\" --test-spin-on=" + kSpin + "\n");
}

bool process_gone(pid_t pid)
{
	std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
	if (!stat)
		return true;
	std::string line;
	std::getline(stat, line);
	std::size_t close = line.rfind(')');
	// a zombie (not yet reaped) is dead too
	return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}

bool wait_until_gone(pid_t pid)
{
	for (int i = 0; i < 200; i++) {
		if (process_gone(pid))
			return true;
		std::this_thread::sleep_for(std::chrono::milliseconds(10));
	}
	return false;
}

std::vector<int> open_fds()
{
	std::vector<int> fds;
	for (const auto &entry : std::filesystem::directory_iterator("/proc/self/fd"))
		fds.push_back(std::stoi(entry.path().filename().string()));
	return fds;
}

// No child of ours is left, running or zombie.
void expect_no_children()
{
	errno = 0;
	EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);
	EXPECT_EQ(errno, ECHILD);
}

// A one-page PDF with this text, made here (no fixture).
std::string small_pdf(const std::string &text)
{
	std::string content = "BT /F1 12 Tf 72 720 Td (" + text + ") Tj ET";
	return testutil::pdf_from_objects({
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
		" /Resources << /Font << /F1 5 0 R >> >> >>",
		"<< /Length " + std::to_string(content.size()) + " >>\nstream\n" + content +
			"\nendstream",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
	});
}

struct Sample {
	std::string name;
	std::string data;
	std::string content_type;
};

// Every kind of document the helper reads: the corpus PDFs and XML, a
// docx, a hand-made PDF, text (also Latin-1), an unsupported one, an empty one.
std::vector<Sample> samples()
{
	std::vector<Sample> list;
	if (std::filesystem::is_directory(testutil::einvoice_dir())) {
		for (const auto &entry : std::filesystem::directory_iterator(testutil::einvoice_dir())) {
			std::string ext = entry.path().extension().string();
			if (ext == ".pdf" || ext == ".xml")
				list.push_back({entry.path().filename().string(),
						testutil::read_file(entry.path().string()),
						ext == ".pdf" ? "application/pdf" : "application/xml"});
		}
	}
	list.push_back({"docx", extract_fixtures::sample_docx(),
			"application/vnd.openxmlformats-officedocument.wordprocessingml.document"});
	list.push_back({"small pdf", small_pdf("Rechnung Nr. 4711"), ""});
	list.push_back({"text", "Stra\xdf" "e in M\xfcnchen\n\nzweiter Absatz", "text/plain"});
	list.push_back({"xml", "<a><b>eins</b><c>zwei</c></a>", "text/xml; charset=utf-8"});
	list.push_back({"binary", std::string("\x00\x01\x02\x03\xff\xfe", 6), "image/png"});
	list.push_back({"empty", "", "text/plain"});
	return list;
}

void expect_same(const Document &got, const Document &want)
{
	EXPECT_EQ(got.ok, want.ok) << join(got.warnings);
	EXPECT_EQ(got.text, want.text);
	EXPECT_EQ(join(got.warnings), join(want.warnings));
	ASSERT_EQ(got.einvoice.has_value(), want.einvoice.has_value());
	if (want.einvoice) {
		EXPECT_EQ(got.einvoice->format, want.einvoice->format);
		EXPECT_EQ(got.einvoice->number, want.einvoice->number);
		EXPECT_EQ(got.einvoice->total, want.einvoice->total);
		EXPECT_EQ(got.einvoice->iban, want.einvoice->iban);
	}
}

} // namespace

// ------------------------------------------------------------ answers

TEST(ExtractSession, SameAnswersAsOneShot)
{
	HELPER_OR_FAIL(helper);
	std::vector<Sample> docs = samples();
	std::vector<Document> want;
	for (const Sample &doc : docs)
		want.push_back(extract_text(helper, doc.data, doc.content_type, Limits{}));

	Session session(helper, Limits{});
	EXPECT_EQ(session.helper_pid(), -1) << "started before the first document";
	for (int round = 0; round < 3; round++) {
		for (std::size_t i = 0; i < docs.size(); i++) {
			SCOPED_TRACE(docs[i].name + ", round " + std::to_string(round));
			expect_same(session.extract_text(docs[i].data, docs[i].content_type), want[i]);
		}
	}
	EXPECT_EQ(session.helpers_started(), 1u);
	EXPECT_GT(session.helper_pid(), 0);
}

TEST(ExtractSession, MaxTextAndMaxOutputAreKept)
{
	HELPER_OR_FAIL(helper);
	Limits limits;
	limits.max_text = 5;
	Session session(helper, limits);
	// ä is two bytes: five bytes hold two of them
	Document doc = session.extract_text("\xc3\xa4\xc3\xa4\xc3\xa4", "text/plain");
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	EXPECT_EQ(doc.text, "\xc3\xa4\xc3\xa4");

	limits = Limits{};
	limits.max_output = 100;
	Session small(helper, limits);
	doc = small.extract_text(std::string(1000, 'x'), "text/plain");
	EXPECT_FALSE(doc.ok);
	EXPECT_EQ(join(doc.warnings), "output larger than 100 bytes");
	doc = small.extract_text("kurz", "text/plain");
	EXPECT_TRUE(doc.ok) << join(doc.warnings);
	EXPECT_EQ(doc.text, "kurz");
	EXPECT_EQ(small.helpers_started(), 2u);
}

// ------------------------------------------------------------ hostile documents

TEST(ExtractSession, DocumentOverItsCpuShareFailsAlone)
{
	HELPER_OR_FAIL(helper);
	testutil::TempDir dir;
	Limits limits;
	limits.cpu_seconds = 1;
	limits.timeout_ms = 20000;
	Session session(spinning_helper(dir, helper), limits);
	Document before = session.extract_text("vorher", "text/plain");
	ASSERT_TRUE(before.ok) << join(before.warnings);
	pid_t first_helper = session.helper_pid();

	auto start = Clock::now();
	Document hostile = session.extract_text(std::string("x ") + kSpin, "text/plain");
	auto elapsed = Clock::now() - start;
	EXPECT_FALSE(hostile.ok);
	EXPECT_EQ(join(hostile.warnings), "killed by signal 24 (CPU limit of 1 s)");
	// its share, rounded up to a second, not the wall-clock timeout
	EXPECT_LT(elapsed, std::chrono::seconds(5));
	EXPECT_TRUE(process_gone(first_helper));

	Document after = session.extract_text("nachher", "text/plain");
	ASSERT_TRUE(after.ok) << join(after.warnings);
	EXPECT_EQ(after.text, "nachher");
	EXPECT_EQ(session.helpers_started(), 2u);
	EXPECT_NE(session.helper_pid(), first_helper);
}

TEST(ExtractSession, DocumentOverTheWallClockFailsAlone)
{
	HELPER_OR_FAIL(helper);
	testutil::TempDir dir;
	Limits limits;
	limits.cpu_seconds = 0;
	limits.timeout_ms = 300;
	Session session(spinning_helper(dir, helper), limits);
	ASSERT_TRUE(session.extract_text("eins", "").ok);
	auto start = Clock::now();
	Document hostile = session.extract_text(kSpin, "");
	auto elapsed = Clock::now() - start;
	EXPECT_FALSE(hostile.ok);
	EXPECT_EQ(join(hostile.warnings), "timed out after 300 ms");
	EXPECT_GE(elapsed, std::chrono::milliseconds(300));
	EXPECT_LT(elapsed, std::chrono::seconds(2));
	Document after = session.extract_text("zwei", "");
	ASSERT_TRUE(after.ok) << join(after.warnings);
	EXPECT_EQ(after.text, "zwei");
}

TEST(ExtractSession, SubmitAndCollectGiveTheSameAnswersLaterAndLateAnswersAreKept)
{
	HELPER_OR_FAIL(helper);
	Limits limits;
	limits.timeout_ms = 300;
	Session session(helper, limits);
	EXPECT_FALSE(session.pending());
	Document none = session.collect();
	EXPECT_FALSE(none.ok);
	EXPECT_EQ(join(none.warnings), "internal error: no document was submitted");

	session.submit("erstes Dokument", "text/plain");
	EXPECT_TRUE(session.pending());
	// the caller is busy for longer than the wall-clock limit: an answer
	// that is waiting is still taken
	std::this_thread::sleep_for(std::chrono::milliseconds(700));
	Document first = session.collect();
	EXPECT_FALSE(session.pending());
	ASSERT_TRUE(first.ok) << join(first.warnings);
	EXPECT_EQ(first.text, "erstes Dokument");

	// one at a time: a second submit drops the first answer
	session.submit("verworfen", "text/plain");
	session.submit("behalten", "text/plain");
	Document kept = session.collect();
	ASSERT_TRUE(kept.ok) << join(kept.warnings);
	EXPECT_EQ(kept.text, "behalten");
	EXPECT_EQ(session.helpers_started(), 1u);
}

TEST(ExtractSession, SubmittedDocumentOverTheWallClockFailsAtCollect)
{
	HELPER_OR_FAIL(helper);
	testutil::TempDir dir;
	Limits limits;
	limits.cpu_seconds = 0;
	limits.timeout_ms = 300;
	Session session(spinning_helper(dir, helper), limits);
	session.submit(kSpin, "");
	auto start = Clock::now();
	Document hostile = session.collect();
	auto elapsed = Clock::now() - start;
	EXPECT_FALSE(hostile.ok);
	EXPECT_EQ(join(hostile.warnings), "timed out after 300 ms");
	// the grace for a late collect, not more
	EXPECT_LT(elapsed, std::chrono::milliseconds(1900));
	session.submit("danach", "");
	Document after = session.collect();
	ASSERT_TRUE(after.ok) << join(after.warnings);
	EXPECT_EQ(after.text, "danach");
	EXPECT_EQ(session.helpers_started(), 2u);
}

TEST(ExtractSession, MemoryLimitCoversTheHelper)
{
	if (kSanitizerBuild)
		GTEST_SKIP() << "ASan build: no memory limit (see extract_client.hpp)";
	HELPER_OR_FAIL(helper);
	Limits limits;
	limits.memory_bytes = 64u << 20;
	limits.timeout_ms = 30000;
	Session session(helper, limits);
	ASSERT_TRUE(session.extract_text("klein", "").ok);
	// 80 MiB can't be held in 64 MiB
	Document big = session.extract_text(std::string(80u << 20, 'a'), "text/plain");
	EXPECT_FALSE(big.ok);
	EXPECT_EQ(join(big.warnings), "exit status 3 (out of memory): tresor-extract: out of memory");
	Document after = session.extract_text(small_pdf("Danach"), "application/pdf");
	ASSERT_TRUE(after.ok) << join(after.warnings);
	EXPECT_EQ(after.text, "Danach\n");
}

// Each document gets its share on top of what the helper has used; the
// hard limit is a cap over all documents.
TEST(ExtractSession, CpuLimitIsMovedPerDocument)
{
	HELPER_OR_FAIL(helper);
	Limits limits;
	limits.cpu_seconds = 2;
	Session session(helper, limits, 10);
	ASSERT_TRUE(session.extract_text("eins", "").ok);
	std::ifstream in("/proc/" + std::to_string(session.helper_pid()) + "/limits");
	std::string line;
	bool found = false;
	while (std::getline(in, line)) {
		if (!line.starts_with("Max cpu time"))
			continue;
		found = true;
		std::istringstream fields(line.substr(12));
		unsigned long soft = 0, hard = 0;
		fields >> soft >> hard;
		// used so far (under a second, rounded up) + 2
		EXPECT_GE(soft, 2u) << line;
		EXPECT_LE(soft, 3u) << line;
		EXPECT_EQ(hard, (2u + 1) * (10 + 1)) << line;
	}
	EXPECT_TRUE(found);
}

// ------------------------------------------------------------ the helper process

TEST(ExtractSession, HelperKilledBetweenDocuments)
{
	HELPER_OR_FAIL(helper);
	Session session(helper, Limits{});
	ASSERT_TRUE(session.extract_text("eins", "").ok);
	pid_t pid = session.helper_pid();
	ASSERT_GT(pid, 0);
	ASSERT_EQ(::kill(pid, SIGKILL), 0);
	ASSERT_TRUE(wait_until_gone(pid));
	Document doc = session.extract_text("zwei", "");
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	EXPECT_EQ(doc.text, "zwei");
	EXPECT_TRUE(doc.warnings.empty()) << join(doc.warnings);
	EXPECT_NE(session.helper_pid(), pid);
	EXPECT_EQ(session.helpers_started(), 2u);
}

TEST(ExtractSession, RestartsAfterMaxDocuments)
{
	HELPER_OR_FAIL(helper);
	std::vector<pid_t> pids;
	{
		Session session(helper, Limits{}, 3);
		for (int i = 0; i < 7; i++) {
			Document doc = session.extract_text("Dokument " + std::to_string(i), "");
			ASSERT_TRUE(doc.ok) << join(doc.warnings);
			EXPECT_EQ(doc.text, "Dokument " + std::to_string(i));
			if (pids.empty() || pids.back() != session.helper_pid())
				pids.push_back(session.helper_pid());
		}
		EXPECT_EQ(session.helpers_started(), 3u);
		EXPECT_TRUE(process_gone(pids[0]));
		EXPECT_TRUE(process_gone(pids[1]));
	}
	ASSERT_EQ(pids.size(), 3u);
	EXPECT_TRUE(process_gone(pids[2]));
	expect_no_children();
}

TEST(ExtractSession, ProtocolErrorsAndHelperFailures)
{
	testutil::TempDir dir;
	const std::string answer = "{\"einvoice\":null,\"text\":\"ok\",\"warnings\":[]}";
	// reads the request, then answers with the given printf arguments
	auto fake = [&](const std::string &name, const std::string &printf_args) {
		return write_script(dir, name,
				    "read -r length hint\n"
				    "/usr/bin/head -c \"$length\" > /dev/null\n"
				    "printf " + printf_args + "\n"
				    "exec /bin/sleep 30\n");
	};
	struct Case {
		std::string helper;
		std::string warning;
	};
	const Case cases[] = {
		{fake("garbage", "'hello\\n'"), "invalid output"},
		{fake("short", "'500\\n" + answer + "'"), "timed out after 500 ms"},
		{fake("extra", "'%s\\n%sX' " + std::to_string(answer.size()) + " '" + answer + "'"),
		 "invalid output"},
		{fake("not-json", "'3\\nabc'"), "invalid output"},
		{fake("huge", "'99999999999\\n'"), "output larger than 8388608 bytes"},
		{write_script(dir, "crash", "read -r length hint\nkill -SEGV $$\n"),
		 "killed by signal 11 (SIGSEGV)"},
		{write_script(dir, "oom", "echo 'tresor-extract: out of memory' >&2\nexit 3\n"),
		 "exit status 3 (out of memory): tresor-extract: out of memory"},
		{write_script(dir, "quiet", "exit 0\n"), "no answer"},
		{dir / "missing", "can't execute " + (dir / "missing") + ": No such file or directory"},
	};
	for (const Case &c : cases) {
		SCOPED_TRACE(c.helper);
		Limits limits;
		limits.timeout_ms = 500;
		Session session(c.helper, limits);
		for (int i = 0; i < 2; i++) {
			auto start = Clock::now();
			Document doc = session.extract_text("data", "text/plain");
			EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
			EXPECT_FALSE(doc.ok);
			EXPECT_EQ(join(doc.warnings), c.warning);
			EXPECT_EQ(session.helper_pid(), -1) << "a failed helper is not kept";
		}
	}
	expect_no_children();
}

TEST(ExtractSession, HangingHelperDoesNotHoldUpTheDestructor)
{
	testutil::TempDir dir;
	const std::string answer = "{\"einvoice\":null,\"text\":\"ok\",\"warnings\":[]}";
	// answers one document, then ignores EOF (and SIGTERM)
	std::string helper = write_script(
		dir, "hang",
		"trap '' TERM\n"
		"read -r length hint\n"
		"/usr/bin/head -c \"$length\" > /dev/null\n"
		"printf '%s\\n%s' " + std::to_string(answer.size()) + " '" + answer + "'\n"
		"exec /bin/sleep 30\n");
	pid_t pid;
	auto start = Clock::now();
	{
		Session session(helper, Limits{});
		Document doc = session.extract_text("x", "");
		ASSERT_TRUE(doc.ok) << join(doc.warnings);
		EXPECT_EQ(doc.text, "ok");
		pid = session.helper_pid();
		start = Clock::now();
	}
	auto elapsed = Clock::now() - start;
	// the grace, measured in whole milliseconds
	EXPECT_GE(elapsed, std::chrono::milliseconds(Session::kExitGraceMs - 10));
	EXPECT_LT(elapsed, std::chrono::milliseconds(1200));
	EXPECT_TRUE(process_gone(pid));
	expect_no_children();
}

TEST(ExtractSession, NoLeakedDescriptorsOrZombies)
{
	HELPER_OR_FAIL(helper);
	testutil::TempDir dir;
	std::vector<int> before = open_fds();
	{
		Limits limits;
		limits.timeout_ms = 300;
		limits.cpu_seconds = 0;
		Session session(spinning_helper(dir, helper), limits, 2);
		for (int i = 0; i < 3; i++) {
			EXPECT_TRUE(session.extract_text("a", "").ok);
			EXPECT_FALSE(session.extract_text(kSpin, "").ok);
			EXPECT_TRUE(session.extract_text("b", "").ok);
			EXPECT_TRUE(session.extract_text("c", "").ok);
			pid_t pid = session.helper_pid();
			ASSERT_GT(pid, 0);
			::kill(pid, SIGKILL);
			wait_until_gone(pid);
		}
		// the pipes of a running helper are close-on-exec
		ASSERT_TRUE(session.extract_text("d", "").ok);
		std::vector<int> added;
		for (int fd : open_fds())
			if (std::find(before.begin(), before.end(), fd) == before.end())
				added.push_back(fd);
		EXPECT_EQ(added.size(), 3u) << "stdin, stdout and stderr of the helper";
		for (int fd : added) {
			std::error_code ec;
			std::string target = std::filesystem::read_symlink(
				"/proc/self/fd/" + std::to_string(fd), ec).string();
			if (target.starts_with("pipe:")) {
				EXPECT_TRUE(::fcntl(fd, F_GETFD) & FD_CLOEXEC) << fd << " " << target;
			}
		}
	}
	EXPECT_EQ(open_fds(), before);
	expect_no_children();
}

TEST(ExtractSession, ForkedChildLeavesTheParentsHelperAlone)
{
	HELPER_OR_FAIL(helper);
	std::optional<Session> session(std::in_place, helper, Limits{});
	ASSERT_TRUE(session->extract_text("eins", "").ok);
	pid_t helper_pid = session->helper_pid();

	pid_t child = ::fork();
	ASSERT_GE(child, 0);
	if (child == 0) {
		// the child's copy: not the child's helper; using it starts
		// one of its own, destroying it neither kills nor waits for
		// the parent's
		int failures = 0;
		if (session->helper_pid() != -1)
			failures |= 1;
		Document doc = session->extract_text("im Kind", "");
		if (!doc.ok || doc.text != "im Kind" || session->helper_pid() == helper_pid)
			failures |= 2;
		session.reset();
		if (::kill(helper_pid, 0) != 0)
			failures |= 4;
		::_exit(failures);
	}
	int status = 0;
	ASSERT_EQ(::waitpid(child, &status, 0), child);
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(WEXITSTATUS(status), 0);

	Document doc = session->extract_text("zwei", "");
	ASSERT_TRUE(doc.ok) << join(doc.warnings);
	EXPECT_EQ(doc.text, "zwei");
	EXPECT_EQ(session->helper_pid(), helper_pid);
	EXPECT_EQ(session->helpers_started(), 1u);
	session.reset();
	expect_no_children();
}

// ------------------------------------------------------------ the --serve protocol

TEST(ExtractServe, AnswersAreFramedOneShotJson)
{
	HELPER_OR_FAIL(helper);
	testutil::TempDir dir;
	std::string pdf = small_pdf("Rechnung 42");
	testutil::write_file(dir / "doc.pdf", pdf);
	std::string q = "'" + helper + "'";
	ShellRun one_shot = run_shell(q + " --mode=auto --content-type=application/pdf < " +
				      (dir / "doc.pdf"));
	ASSERT_EQ(exit_code(one_shot), 0);

	std::string requests = std::to_string(pdf.size()) + " application/pdf\n" + pdf +
			       "4\nText" + "0 text/plain\n";
	testutil::write_file(dir / "requests", requests);
	ShellRun served = run_shell(q + " --serve < " + (dir / "requests"));
	ASSERT_EQ(exit_code(served), 0) << "EOF after a request ends it cleanly";
	std::string want = std::to_string(one_shot.out.size()) + "\n" + one_shot.out;
	std::string text = "{\"einvoice\":null,\"text\":\"Text\",\"warnings\":[]}\n";
	want += std::to_string(text.size()) + "\n" + text;
	std::string empty = "{\"einvoice\":null,\"text\":\"\",\"warnings\":[]}\n";
	want += std::to_string(empty.size()) + "\n" + empty;
	EXPECT_EQ(served.out, want);
}

TEST(ExtractServe, MalformedRequestsEndItWithStatus5)
{
	HELPER_OR_FAIL(helper);
	testutil::TempDir dir;
	std::string q = "'" + helper + "'";
	struct Case {
		std::string input;
		std::string answers; // what comes before the error
	};
	const std::string ok_json = "{\"einvoice\":null,\"text\":\"gut\",\"warnings\":[]}\n";
	const std::string ok_answer = std::to_string(ok_json.size()) + "\n" + ok_json;
	const Case cases[] = {
		{"abc\n", ""},
		{"-3\n", ""},
		{" 3\nabc", ""},
		{"1234567890123456\n", ""},
		{"12", ""},                                // cut header
		{"10\nabc", ""},                           // cut document
		{std::string(2000, '1') + "\n", ""},       // overlong line
		{"3\ngut" "3x\n", ok_answer},              // the next request right after 3 bytes
	};
	for (const Case &c : cases) {
		SCOPED_TRACE(c.input.substr(0, 40));
		testutil::write_file(dir / "requests", c.input);
		ShellRun run = run_shell(q + " --serve 2>/dev/null < " + (dir / "requests"));
		EXPECT_EQ(exit_code(run), tresor::extract::kExitProtocol);
		EXPECT_EQ(run.out, c.answers);
	}
	ShellRun nothing = run_shell(q + " --serve < /dev/null");
	EXPECT_EQ(exit_code(nothing), 0);
	EXPECT_EQ(nothing.out, "");

	for (const char *args : {"--serve --content-type=text/plain", "--serve --timeout=3",
				 "--mode=auto --test-spin-on=x", "--serve --mode=auto"}) {
		ShellRun usage = run_shell(q + " " + args + " 2>/dev/null < /dev/null");
		EXPECT_EQ(exit_code(usage), tresor::extract::kExitUsage) << args;
	}
}

// ------------------------------------------------------------ speed

TEST(ExtractSession, ManyPdfsAreMuchFasterThanOneShot)
{
	HELPER_OR_FAIL(helper);
	constexpr int kDocuments = 200;
	std::vector<std::string> pdfs;
	for (int i = 0; i < kDocuments; i++)
		pdfs.push_back(small_pdf("Rechnung " + std::to_string(i)));

	auto start = Clock::now();
	for (int i = 0; i < kDocuments; i++) {
		Document doc = extract_text(helper, pdfs[i], "application/pdf", Limits{});
		ASSERT_EQ(doc.text, "Rechnung " + std::to_string(i) + "\n") << join(doc.warnings);
	}
	auto one_shot = Clock::now() - start;

	start = Clock::now();
	{
		Session session(helper, Limits{});
		for (int i = 0; i < kDocuments; i++) {
			Document doc = session.extract_text(pdfs[i], "application/pdf");
			ASSERT_EQ(doc.text, "Rechnung " + std::to_string(i) + "\n")
				<< join(doc.warnings);
		}
	}
	auto served = Clock::now() - start;

	using std::chrono::duration;
	double one_shot_ms = duration<double, std::milli>(one_shot).count();
	double served_ms = duration<double, std::milli>(served).count();
	std::printf("%d small PDFs: one-shot %.0f ms (%.2f ms each), session %.0f ms "
		    "(%.2f ms each), %.1fx\n",
		    kDocuments, one_shot_ms, one_shot_ms / kDocuments, served_ms,
		    served_ms / kDocuments, one_shot_ms / served_ms);
	EXPECT_GT(one_shot_ms, 3 * served_ms);
}
