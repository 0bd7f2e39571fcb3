// Helpers for the core unit tests: temporary directories, file access, an
// independent SHA-256 (OpenSSL's one-shot EVP_Digest), and fixed times.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/evp.h>
#include <sys/wait.h>
#include <unistd.h>

namespace testutil {

// A fresh directory from mkdtemp(), removed with everything in it.
class TempDir {
public:
	TempDir()
	{
		std::string tmpl = (std::filesystem::temp_directory_path() /
				    "tresor-test-XXXXXX").string();
		if (::mkdtemp(tmpl.data()) == nullptr)
			throw std::runtime_error("mkdtemp failed");
		path_ = tmpl;
	}
	~TempDir()
	{
		std::error_code ec;
		std::filesystem::remove_all(path_, ec);
	}
	TempDir(const TempDir &) = delete;
	TempDir &operator=(const TempDir &) = delete;

	const std::string &path() const { return path_; }
	std::string operator/(std::string_view rel) const
	{
		return path_ + "/" + std::string(rel);
	}

private:
	std::string path_;
};

// The shared test corpus (../shared/testdata beside the repository, with
// its licences; never copied into the project): $TRESOR_TESTDATA (set by
// make check and scripts/check), else found from this file's path.
inline std::filesystem::path testdata_dir()
{
	if (const char *dir = std::getenv("TRESOR_TESTDATA"); dir != nullptr && *dir != '\0')
		return dir;
	return std::filesystem::absolute(std::filesystem::path(__FILE__))
		       .parent_path().parent_path().parent_path().parent_path() /
	       "shared" / "testdata";
}

// A PDF file of these objects (object n is objects[n - 1], object 1 the
// catalog), with a correct cross-reference table: the tests' own
// documents, written by hand so that nothing is copied from elsewhere.
inline std::string pdf_from_objects(const std::vector<std::string> &objects,
				    const std::string &header = "%PDF-1.7\n",
				    const std::string &trailer_extra = "")
{
	std::string pdf = header;
	std::vector<std::size_t> offsets;
	for (std::size_t i = 0; i < objects.size(); i++) {
		offsets.push_back(pdf.size());
		pdf += std::to_string(i + 1) + " 0 obj\n" + objects[i] + "\nendobj\n";
	}
	std::size_t xref = pdf.size();
	pdf += "xref\n0 " + std::to_string(objects.size() + 1) + "\n0000000000 65535 f \n";
	for (std::size_t off : offsets) {
		char entry[32];
		std::snprintf(entry, sizeof(entry), "%010zu 00000 n \n", off);
		pdf += entry;
	}
	pdf += "trailer\n<< /Size " + std::to_string(objects.size() + 1) + " /Root 1 0 R" +
	       trailer_extra + " >>\nstartxref\n" + std::to_string(xref) + "\n%%EOF\n";
	return pdf;
}

// The e-invoices of the shared corpus.
inline std::filesystem::path einvoice_dir()
{
	return testdata_dir() / "einvoice";
}

// The tresor-extract helper the tests run: TRESOR_EXTRACT, else the one
// this build made; "" when neither is known.
inline std::string extract_helper_path()
{
	if (const char *path = std::getenv("TRESOR_EXTRACT"); path != nullptr && *path != '\0')
		return path;
#ifdef TRESOR_EXTRACT_BUILD_PATH
	return TRESOR_EXTRACT_BUILD_PATH;
#else
	return "";
#endif
}

// The built helper is part of what is tested: its absence is a failure.
#define HELPER_OR_FAIL(var)                                                              \
	const std::string var = testutil::extract_helper_path();                         \
	ASSERT_TRUE(!var.empty() && ::access(var.c_str(), X_OK) == 0)                    \
		<< "tresor-extract not found at '" << var                                \
		<< "': set TRESOR_EXTRACT or compile with -DTRESOR_EXTRACT_BUILD_PATH"

#define SKIP_WITHOUT_CORPUS()                                                            \
	do {                                                                             \
		if (!std::filesystem::is_directory(testutil::einvoice_dir()))              \
			GTEST_SKIP() << "shared test data not found at "                 \
				     << testutil::einvoice_dir().string()                  \
				     << " (set TRESOR_SRCDIR to the repository root)";      \
	} while (0)

// Runs a shell command, gives its stdout and wait status.
struct ShellRun {
	std::string out;
	int status = -1;
};

inline ShellRun run_shell(const std::string &command)
{
	ShellRun run;
	FILE *pipe = ::popen(command.c_str(), "r");
	if (pipe == nullptr)
		return run;
	char buf[65536];
	std::size_t n;
	while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0)
		run.out.append(buf, n);
	run.status = ::pclose(pipe);
	return run;
}

// The exit status of a run, -1 when it didn't exit normally.
inline int exit_code(const ShellRun &run)
{
	return WIFEXITED(run.status) ? WEXITSTATUS(run.status) : -1;
}

inline std::string read_file(const std::string &path)
{
	std::ifstream in(path, std::ios::binary);
	if (!in)
		throw std::runtime_error("can't read " + path);
	std::ostringstream ss;
	ss << in.rdbuf();
	return ss.str();
}

inline void write_file(const std::string &path, std::string_view data)
{
	std::ofstream out(path, std::ios::binary | std::ios::trunc);
	out.write(data.data(), static_cast<std::streamsize>(data.size()));
	if (!out)
		throw std::runtime_error("can't write " + path);
}

inline void append_file(const std::string &path, std::string_view data)
{
	std::ofstream out(path, std::ios::binary | std::ios::app);
	out.write(data.data(), static_cast<std::streamsize>(data.size()));
	if (!out)
		throw std::runtime_error("can't append to " + path);
}

// Lines without their "\n"; a final piece without "\n" is kept.
inline std::vector<std::string> split_lines(const std::string &data)
{
	std::vector<std::string> lines;
	std::size_t start = 0;
	while (start < data.size()) {
		std::size_t nl = data.find('\n', start);
		if (nl == std::string::npos) {
			lines.push_back(data.substr(start));
			break;
		}
		lines.push_back(data.substr(start, nl - start));
		start = nl + 1;
	}
	return lines;
}

inline std::string join_lines(const std::vector<std::string> &lines)
{
	std::string out;
	for (const std::string &l : lines)
		out += l + "\n";
	return out;
}

// SHA-256 by a second route: OpenSSL's one-shot EVP_Digest.
inline std::string sha256_oneshot(std::string_view data)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1)
		throw std::runtime_error("EVP_Digest failed");
	static const char hex[] = "0123456789abcdef";
	std::string out;
	for (unsigned int i = 0; i < len; i++) {
		out += hex[md[i] >> 4];
		out += hex[md[i] & 15];
	}
	return out;
}

inline const std::string zero_hash(64, '0');

// A UTC time point.
inline std::chrono::system_clock::time_point utc(int year, int mon, int day, int hour = 0,
						 int min = 0, int sec = 0, int usec = 0)
{
	struct tm tm {};
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	std::time_t t = ::timegm(&tm);
	return std::chrono::system_clock::from_time_t(t) + std::chrono::microseconds(usec);
}

inline bool exists(const std::string &path)
{
	return std::filesystem::exists(path);
}

} // namespace testutil

// ---- journal records for the tests
#include "archive/journal.hpp"

namespace testutil {

inline std::string mail_hash(const std::string &what)
{
	return sha256_oneshot("mail " + what);
}

inline tresor::Record save_record(const std::string &guid, std::uint32_t uid,
				  const std::string &sha256,
				  const std::string &content_sha256 = "",
				  const std::string &mailbox = "INBOX")
{
	tresor::Record r;
	r.event = "save";
	r.mailbox = mailbox;
	r.mailbox_guid = guid;
	r.uidvalidity = 1700000000;
	r.uid = uid;
	r.size = 1000 + uid;
	r.sha256 = sha256;
	if (!content_sha256.empty())
		r.content_sha256 = content_sha256;
	r.service = "lmtp";
	return r;
}

// A mail found in the store without a record, journaled by doveadm
// tresor adopt: a save's hashes, its INTERNALDATE.
inline tresor::Record adopt_record(const std::string &guid, std::uint32_t uid,
				   const std::string &sha256,
				   const std::string &internaldate = "2019-03-04T10:00:00Z",
				   const std::string &mailbox = "INBOX")
{
	tresor::Record r = save_record(guid, uid, sha256, "", mailbox);
	r.event = "adopt";
	r.internaldate = internaldate;
	r.service = "doveadm";
	return r;
}

// The invoice record the mail plugin writes right after the save of a
// delivered invoice (docs/archive.md 3.7); the core adds save_seq.
inline tresor::Record invoice_record(const tresor::Record &save, tresor::json fields)
{
	tresor::Record r;
	r.event = "invoice";
	r.mailbox = save.mailbox;
	r.mailbox_guid = save.mailbox_guid;
	r.uidvalidity = save.uidvalidity;
	r.uid = save.uid;
	r.sha256 = save.sha256;
	r.archive = save.archive;
	r.session = save.session;
	r.extra.emplace_back("invoice", std::move(fields));
	return r;
}

inline tresor::Record expunge_record(const std::string &guid, std::uint32_t uid,
				     const std::string &event = "expunge")
{
	tresor::Record r;
	r.event = event;
	r.mailbox = "INBOX";
	r.mailbox_guid = guid;
	r.uid = uid;
	r.service = "imap";
	return r;
}

inline tresor::Record delete_record(const std::string &guid, const std::string &mailbox = "INBOX")
{
	tresor::Record r;
	r.event = "delete";
	r.mailbox = mailbox;
	r.mailbox_guid = guid;
	r.service = "imap";
	return r;
}

inline tresor::Record rename_record(const std::string &guid, const std::string &from,
				    const std::string &to)
{
	tresor::Record r;
	r.event = "rename";
	r.mailbox = from;
	r.new_mailbox = to;
	r.mailbox_guid = guid;
	r.service = "imap";
	return r;
}

inline const std::string kGuid1 = "0123456789abcdef0123456789abcdef";
inline const std::string kGuid2 = "fedcba9876543210fedcba9876543210";
inline const std::string kGuid3 = "00000000000000000000000000000003";
inline const std::string kGuid4 = "00000000000000000000000000000004";

// An "interrupted" record (docs/archive.md 3.4) in mailbox kGuid1: a save
// (uid 0) or expunge the next lock holder found announced but unjournaled.
inline tresor::Record interrupted_record(const std::string &action, const std::string &mailbox,
					 std::uint32_t uid, const std::string &guid,
					 const std::string &sha256, std::uint64_t size,
					 const std::string &message_id)
{
	tresor::Record r;
	r.event = "interrupted";
	r.action = action;
	r.mailbox = mailbox;
	r.mailbox_guid = kGuid1;
	r.uid = uid;
	if (!guid.empty())
		r.guid = guid;
	if (!sha256.empty())
		r.sha256 = sha256;
	r.size = size;
	r.message_id = message_id;
	return r;
}

} // namespace testutil
