#include "extract/extract_client.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <new>
#include <system_error>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/posix_io.hpp"

namespace tresor::extract {

namespace {

constexpr std::size_t kIoChunk = 64 * 1024;
// What the helper may print on stderr that we keep for the warning.
constexpr std::size_t kMaxStderr = 4096;
// The helper needs stdin, stdout, stderr and a few for its libraries.
constexpr rlim_t kHelperMaxFiles = 32;

std::string errno_text(int error)
{
	return std::generic_category().message(error);
}

// A close-on-exec pipe whose ends are not 0, 1 or 2: the child's dup2()
// onto its standard descriptors must not overwrite another of them, and
// dup2(fd, fd) would leave close-on-exec set. Returns an errno or 0.
int make_pipe(Fd &read_end, Fd &write_end)
{
	int fds[2];
	if (::pipe2(fds, O_CLOEXEC) < 0)
		return errno;
	read_end.reset(fds[0]);
	write_end.reset(fds[1]);
	for (Fd *end : {&read_end, &write_end}) {
		if (end->get() > STDERR_FILENO)
			continue;
		int moved = ::fcntl(end->get(), F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
		if (moved < 0)
			return errno;
		end->reset(moved);
	}
	return 0;
}

int set_nonblocking(int fd)
{
	int flags = ::fcntl(fd, F_GETFL);
	if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return errno;
	return 0;
}

long long now_ms()
{
	struct timespec ts;
	::clock_gettime(CLOCK_MONOTONIC, &ts);
	return static_cast<long long>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Keeps SIGPIPE blocked while we write to the helper's stdin, so that a
// helper exiting early gives EPIPE instead of killing the caller (unit
// tests don't ignore SIGPIPE the way Dovecot does). A SIGPIPE we caused is
// consumed before the old mask returns.
class SigpipeGuard {
public:
	SigpipeGuard()
	{
		sigemptyset(&pipe_set_);
		sigaddset(&pipe_set_, SIGPIPE);
		sigset_t pending;
		sigemptyset(&pending);
		::sigpending(&pending);
		// someone else's SIGPIPE stays theirs
		was_pending_ = sigismember(&pending, SIGPIPE) == 1;
		blocked_ = ::pthread_sigmask(SIG_BLOCK, &pipe_set_, &old_mask_) == 0;
	}
	~SigpipeGuard()
	{
		if (!blocked_)
			return;
		if (caused_ && !was_pending_) {
			struct timespec zero {};
			while (::sigtimedwait(&pipe_set_, nullptr, &zero) < 0 && errno == EINTR) {
			}
		}
		::pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
	}
	SigpipeGuard(const SigpipeGuard &) = delete;
	SigpipeGuard &operator=(const SigpipeGuard &) = delete;

	void caused_sigpipe() { caused_ = true; }

private:
	sigset_t pipe_set_;
	sigset_t old_mask_;
	bool blocked_ = false;
	bool was_pending_ = false;
	bool caused_ = false;
};

// The helper process, in its own process group. Whatever happens, the
// destructor leaves neither it nor anything it started running, and
// reaps it.
class Child {
public:
	Child() = default;
	~Child()
	{
		if (pid_ > 0 && !reaped_) {
			kill_group();
			wait_blocking();
		}
	}
	Child(const Child &) = delete;
	Child &operator=(const Child &) = delete;

	void started(pid_t pid) { pid_ = pid; }
	pid_t pid() const { return pid_; }

	// After fork() in the caller: the helper is the parent's, not to be
	// killed or waited for from here.
	void disown() { reaped_ = true; }

	// Only while we haven't reaped it: until then neither its pid nor its
	// group id can be reused.
	void kill_group()
	{
		if (pid_ <= 0 || reaped_)
			return;
		has_exited(); // notices when someone else reaped it
		if (reaped_)
			return;
		::kill(-pid_, SIGKILL);
		::kill(pid_, SIGKILL);
	}

	// Whether it has exited, without reaping it (so that kill_group()
	// stays safe). Also true when someone else reaped it: a SIGCHLD
	// handler of the host process, or SIGCHLD set to SIG_IGN.
	bool has_exited()
	{
		if (reaped_)
			return true;
		for (;;) {
			siginfo_t info;
			std::memset(&info, 0, sizeof(info));
			int ret = ::waitid(P_PID, static_cast<id_t>(pid_), &info,
					   WEXITED | WNOHANG | WNOWAIT);
			if (ret == 0)
				return info.si_pid == pid_;
			if (errno == EINTR)
				continue;
			reaped_ = true; // ECHILD: the status is lost
			return true;
		}
	}

	void wait_blocking()
	{
		while (!reaped_) {
			int status = 0;
			pid_t ret = ::waitpid(pid_, &status, 0);
			if (ret == pid_) {
				status_ = status;
				status_known_ = true;
				break;
			}
			if (ret < 0 && errno == EINTR)
				continue;
			break; // ECHILD: reaped elsewhere, the status is lost
		}
		reaped_ = true;
	}

	bool status_known() const { return status_known_; }
	int status() const { return status_; }

private:
	pid_t pid_ = -1;
	bool reaped_ = false;
	bool status_known_ = false;
	int status_ = 0;
};

// The resource limits of a helper process; 0 leaves one as it is.
struct ProcessLimits {
	rlim_t cpu_soft = 0; // SIGXCPU
	rlim_t cpu_hard = 0; // SIGKILL
	rlim_t memory_bytes = 0;
};

// Everything the child needs, prepared before fork(): after it, only
// async-signal-safe calls are allowed.
struct SpawnPlan {
	const char *path;
	char *const *argv;
	char *const *envp;
	int stdin_fd, stdout_fd, stderr_fd, status_fd;
	ProcessLimits limits;
	int max_fd; // fallback for close_range()
};

void lower_limit(int resource, rlim_t value)
{
	struct rlimit current;
	if (::getrlimit(resource, &current) == 0 && current.rlim_max != RLIM_INFINITY &&
	    current.rlim_max < value)
		value = current.rlim_max;
	struct rlimit wanted;
	wanted.rlim_cur = value;
	wanted.rlim_max = value;
	::setrlimit(resource, &wanted);
}

[[noreturn]] void child_fail(int status_fd, int error)
{
	ssize_t ignored = ::write(status_fd, &error, sizeof(error));
	(void)ignored;
	::_exit(127);
}

// In the forked child: own process group, default signal handling, the
// pipes as stdin/stdout/stderr, no other descriptors, the limits, exec.
// On failure the errno goes to the parent through the status pipe.
[[noreturn]] void exec_child(const SpawnPlan &plan)
{
	::setpgid(0, 0);

	// Ignored signals (Dovecot ignores SIGPIPE) and the mask would be
	// inherited through exec.
	struct sigaction dfl;
	std::memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			::sigaction(sig, &dfl, nullptr);
	sigset_t none;
	sigemptyset(&none);
	::sigprocmask(SIG_SETMASK, &none, nullptr);

	// Dovecot's lmtp (and sieve-test or doveadm started by root) drop
	// root only from the effective IDs; with root as the real or saved
	// ID the helper could take it back (seteuid(0)). It keeps only the
	// effective ones.
	uid_t euid = ::geteuid();
	gid_t egid = ::getegid();
	if (::setresgid(egid, egid, egid) < 0 || ::setresuid(euid, euid, euid) < 0)
		child_fail(plan.status_fd, errno);

	// All plan descriptors are > 2 (make_pipe), so these can't collide.
	if (::dup2(plan.stdin_fd, STDIN_FILENO) < 0 ||
	    ::dup2(plan.stdout_fd, STDOUT_FILENO) < 0 ||
	    ::dup2(plan.stderr_fd, STDERR_FILENO) < 0)
		child_fail(plan.status_fd, errno);
	int status_fd = plan.status_fd;
	if (status_fd != 3) {
		if (::dup2(status_fd, 3) < 0)
			child_fail(status_fd, errno);
		status_fd = 3;
	}
	::fcntl(status_fd, F_SETFD, FD_CLOEXEC);
#ifdef SYS_close_range
	if (::syscall(SYS_close_range, 4u, ~0u, 0u) < 0)
#endif
	{
		for (int fd = 4; fd <= plan.max_fd; fd++)
			::close(fd);
	}

	const ProcessLimits &limits = plan.limits;
	if (limits.cpu_hard > 0) {
		struct rlimit cpu;
		cpu.rlim_cur = limits.cpu_soft;
		cpu.rlim_max = limits.cpu_hard;
		struct rlimit current;
		if (::getrlimit(RLIMIT_CPU, &current) == 0 && current.rlim_max != RLIM_INFINITY) {
			cpu.rlim_max = std::min(cpu.rlim_max, current.rlim_max);
			cpu.rlim_cur = std::min(cpu.rlim_cur, cpu.rlim_max);
		}
		if (::setrlimit(RLIMIT_CPU, &cpu) < 0)
			child_fail(status_fd, errno);
	}
	if (limits.memory_bytes > 0 && !kSanitizerBuild)
		lower_limit(RLIMIT_AS, limits.memory_bytes);
	if (!kSanitizerBuild)
		lower_limit(RLIMIT_FSIZE, 0);
	lower_limit(RLIMIT_CORE, 0);
	lower_limit(RLIMIT_NOFILE, kHelperMaxFiles);

	::execve(plan.path, plan.argv, plan.envp);
	child_fail(status_fd, errno);
}

std::string describe_signal(int sig, const Limits &limits)
{
	std::string text = "killed by signal " + std::to_string(sig);
	if (sig == SIGKILL)
		text += " (memory limit?)";
	else if (sig == SIGXCPU)
		text += " (CPU limit of " + std::to_string(limits.cpu_seconds) + " s)";
	else if (const char *name = ::sigabbrev_np(sig))
		text += std::string(" (SIG") + name + ")";
	return text;
}

std::string describe_exit(int code)
{
	std::string text = "exit status " + std::to_string(code);
	if (code == kExitOutOfMemory)
		text += " (out of memory)";
	else if (code == kExitUsage)
		text += " (usage)";
	else if (code == kExitInternal)
		text += " (internal error)";
	else if (code == kExitProtocol)
		text += " (protocol error)";
	return text;
}

// The last non-empty line the helper printed on stderr.
std::string last_line(std::string_view text)
{
	while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
		text.remove_suffix(1);
	std::size_t nl = text.rfind('\n');
	if (nl != std::string_view::npos)
		text.remove_prefix(nl + 1);
	return std::string(text.substr(0, 300));
}

const std::string *string_field(const nlohmann::json &obj, const char *key)
{
	auto it = obj.find(key);
	if (it == obj.end() || !it->is_string())
		return nullptr;
	return it->get_ptr<const std::string *>();
}

// A started helper: the process and our ends of its standard pipes (all
// close-on-exec; ours non-blocking). Members go in reverse order, so the
// pipes close before the Child destructor kills and reaps.
struct HelperProcess {
	Child child;
	Fd stdin_pipe;
	Fd stdout_pipe;
	Fd stderr_pipe;
};

// Starts argv[0] with argv in its own process group under limits, with
// no environment and no descriptor but its three pipes. False with
// error_r when it could not be started or executed.
bool start_helper(const std::vector<std::string> &args, const ProcessLimits &limits,
		  HelperProcess &helper, std::string &error_r)
{
	const std::string &path = args.front();
	std::vector<char *> argv;
	for (const std::string &arg : args)
		argv.push_back(const_cast<char *>(arg.c_str()));
	argv.push_back(nullptr);
	// The helper needs no environment; nothing of the caller's leaks but,
	// in a sanitizer build, where to write reports.
	std::vector<char *> envp;
	if (kSanitizerBuild) {
		for (char **var = environ; *var != nullptr; var++)
			if (std::strncmp(*var, "ASAN_OPTIONS=", 13) == 0 ||
			    std::strncmp(*var, "UBSAN_OPTIONS=", 14) == 0)
				envp.push_back(*var);
	}
	envp.push_back(nullptr);

	Fd in_read, out_write, err_write, status_read, status_write;
	const std::pair<Fd *, Fd *> pipes[] = {{&in_read, &helper.stdin_pipe},
					       {&helper.stdout_pipe, &out_write},
					       {&helper.stderr_pipe, &err_write},
					       {&status_read, &status_write}};
	for (auto [r, w] : pipes) {
		if (int error = make_pipe(*r, *w); error != 0) {
			error_r = "can't create pipe: " + errno_text(error);
			return false;
		}
	}
	for (Fd *fd : {&helper.stdin_pipe, &helper.stdout_pipe, &helper.stderr_pipe}) {
		if (int error = set_nonblocking(fd->get()); error != 0) {
			error_r = "can't set up pipe: " + errno_text(error);
			return false;
		}
	}
	long open_max = ::sysconf(_SC_OPEN_MAX);
	SpawnPlan plan{path.c_str(), argv.data(), envp.data(),
		       in_read.get(), out_write.get(), err_write.get(), status_write.get(),
		       limits,
		       static_cast<int>(std::clamp(open_max, 256L, 65536L))};

	pid_t pid = ::fork();
	if (pid < 0) {
		error_r = "can't start " + path + ": fork: " + errno_text(errno);
		return false;
	}
	if (pid == 0)
		exec_child(plan);
	helper.child.started(pid);
	// also here, so that kill_group() works however the race goes
	::setpgid(pid, pid);

	in_read.reset();
	out_write.reset();
	err_write.reset();
	status_write.reset();

	// EOF: exec succeeded (close-on-exec); otherwise the child's errno.
	int exec_error = 0;
	for (;;) {
		ssize_t ret = ::read(status_read.get(), &exec_error, sizeof(exec_error));
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret != static_cast<ssize_t>(sizeof(exec_error)))
			exec_error = 0;
		break;
	}
	if (exec_error != 0) {
		helper.child.wait_blocking();
		error_r = "can't execute " + path + ": " + errno_text(exec_error);
		return false;
	}
	return true;
}

// Waits (without reaping) until the child has exited or the deadline has
// passed; whether it has exited.
bool wait_for_exit(Child &child, long long deadline)
{
	for (int pause = 1; !child.has_exited(); pause = std::min(pause * 2, 50)) {
		long long left = deadline - now_ms();
		if (left <= 0)
			return false;
		::poll(nullptr, 0, static_cast<int>(std::min<long long>(pause, left)));
	}
	return true;
}

// An answer of the --serve protocol at the start of a buffer:
// "<length>\n" and length bytes.
struct AnswerFrame {
	enum class State { incomplete, complete, malformed };
	State state = State::incomplete;
	std::size_t body_start = 0;
	std::size_t body_length = 0;
	bool length_known = false;

	static constexpr std::size_t kMaxLengthDigits = 15;

	void examine(std::string_view buf)
	{
		std::size_t newline = buf.substr(0, kMaxLengthDigits + 1).find('\n');
		if (newline == std::string_view::npos) {
			bool digits_so_far = buf.size() <= kMaxLengthDigits &&
				buf.find_first_not_of("0123456789") == std::string_view::npos;
			state = digits_so_far ? State::incomplete : State::malformed;
			return;
		}
		std::string_view digits = buf.substr(0, newline);
		if (digits.empty() ||
		    digits.find_first_not_of("0123456789") != std::string_view::npos) {
			state = State::malformed;
			return;
		}
		body_length = 0;
		for (char c : digits)
			body_length = body_length * 10 + static_cast<std::size_t>(c - '0');
		body_start = newline + 1;
		length_known = true;
		std::size_t have = buf.size() - body_start;
		// more than one answer is as wrong as a broken one
		state = have < body_length ? State::incomplete :
			have == body_length ? State::complete : State::malformed;
	}
};

// One request and its answer: writes the request to the helper's stdin
// while reading its stdout and stderr (a helper may write before it has
// read everything; neither side may wait for the other), until the answer
// is complete, the deadline passes or the output grows too large.
//   one-shot: stdin is closed after the request; the answer is all of
//             stdout, complete when stdout and stderr have ended;
//   framed:   the pipes stay open for the next request; the answer is
//             one AnswerFrame.
struct Exchange {
	enum class End {
		complete,
		written, // stop_when_written: the request is all written
		helper_gone, // framed: stdout ended before a complete answer
		timed_out,
		too_large,
		bad_frame,
		failed, // error holds the errno
	};

	Fd &in;
	Fd &out;
	Fd &err;
	std::array<std::string_view, 2> request;
	bool framed;
	std::string &out_buf;
	std::string &err_buf;
	std::size_t max_output;
	long long deadline;
	SigpipeGuard &sigpipe;
	// framed: return End::written once the request is written, to let the
	// caller work while the helper does
	bool stop_when_written = false;
	int error = 0;
	AnswerFrame frame {};

	End run()
	{
		std::size_t piece = 0, written = 0;
		auto skip_written = [&] {
			while (piece < request.size() && written == request[piece].size()) {
				piece++;
				written = 0;
			}
		};
		skip_written();
		if (!framed && piece == request.size())
			in.reset(); // EOF for the helper
		char buf[kIoChunk];
		for (;;) {
			bool writing = in && piece < request.size();
			if (stop_when_written && piece == request.size())
				return End::written;
			if (!writing && !out && !err)
				return framed ? End::helper_gone : End::complete;
			long long left = deadline - now_ms();
			if (left <= 0)
				return End::timed_out;
			struct pollfd fds[3];
			nfds_t n = 0;
			int in_idx = -1, out_idx = -1, err_idx = -1;
			if (writing) {
				in_idx = static_cast<int>(n);
				fds[n++] = {in.get(), POLLOUT, 0};
			}
			if (out) {
				out_idx = static_cast<int>(n);
				fds[n++] = {out.get(), POLLIN, 0};
			}
			if (err) {
				err_idx = static_cast<int>(n);
				fds[n++] = {err.get(), POLLIN, 0};
			}
			int ready = ::poll(fds, n, static_cast<int>(std::min(left, 1000000LL)));
			if (ready < 0) {
				if (errno == EINTR)
					continue;
				error = errno;
				return End::failed;
			}
			if (in_idx >= 0 && fds[in_idx].revents != 0) {
				std::string_view rest = request[piece].substr(written);
				ssize_t ret = ::write(in.get(), rest.data(), std::min(kIoChunk, rest.size()));
				if (ret > 0) {
					written += static_cast<std::size_t>(ret);
					skip_written();
					if (!framed && piece == request.size())
						in.reset();
				} else if (ret < 0 && errno == EPIPE) {
					// it stopped reading; its answer or its exit tells why
					sigpipe.caused_sigpipe();
					in.reset();
				} else if (ret < 0 && errno != EAGAIN && errno != EINTR) {
					error = errno;
					return End::failed;
				}
			}
			if (out_idx >= 0 && fds[out_idx].revents != 0) {
				if (!drain(out, out_buf, buf))
					return End::failed;
				if (framed && !out_buf.empty()) {
					frame.examine(out_buf);
					if (frame.length_known && frame.body_length > max_output)
						return End::too_large;
					if (frame.state == AnswerFrame::State::malformed)
						return End::bad_frame;
					if (frame.state == AnswerFrame::State::complete)
						// an answer to a request not yet sent is no answer
						return piece == request.size() ? End::complete :
										 End::bad_frame;
				} else if (out_buf.size() > max_output) {
					return End::too_large;
				}
			}
			if (err_idx >= 0 && fds[err_idx].revents != 0) {
				if (!drain(err, err_buf, buf))
					return End::failed;
				// only the end is reported
				if (err_buf.size() > kMaxStderr)
					err_buf.erase(0, err_buf.size() - kMaxStderr);
			}
		}
	}

	// One read; closes fd at EOF.
	bool drain(Fd &fd, std::string &into, char *buf)
	{
		ssize_t ret = ::read(fd.get(), buf, kIoChunk);
		if (ret > 0) {
			into.append(buf, static_cast<std::size_t>(ret));
			return true;
		}
		if (ret == 0) {
			fd.reset();
			return true;
		}
		if (errno == EAGAIN || errno == EINTR)
			return true;
		error = errno;
		return false;
	}
};

std::string describe_end(Exchange::End end, int error, const Limits &limits)
{
	switch (end) {
	case Exchange::End::timed_out:
		return "timed out after " + std::to_string(limits.timeout_ms) + " ms";
	case Exchange::End::too_large:
		return "output larger than " + std::to_string(limits.max_output) + " bytes";
	case Exchange::End::failed:
		return "talking to the helper failed: " + errno_text(error);
	case Exchange::End::bad_frame:
		return "invalid output";
	case Exchange::End::helper_gone:
		return "no answer";
	case Exchange::End::complete:
	case Exchange::End::written:
		break;
	}
	return {};
}

// Why a reaped helper failed: its signal or exit status, and the last
// line it printed on stderr. Empty when it exited with 0 or its status is
// unknown (reaped elsewhere).
std::string exit_failure(const Child &child, std::string_view err, const Limits &limits)
{
	if (!child.status_known())
		return {};
	int status = child.status();
	std::string why;
	if (WIFSIGNALED(status))
		why = describe_signal(WTERMSIG(status), limits);
	else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		why = describe_exit(WEXITSTATUS(status));
	if (!why.empty()) {
		std::string said = last_line(err);
		if (!said.empty())
			why += ": " + said;
	}
	return why;
}

// A MIME type from a mail header made safe as one argument or request
// line: printable ASCII, not too long.
std::string printable_content_type(std::string_view content_type)
{
	std::string printable;
	for (char c : content_type.substr(0, 200))
		if (c > ' ' && c < 0x7F)
			printable += c;
		else if (c == ' ' || c == '\t')
			printable += ' ';
	return printable;
}

std::string max_text_argument(const Limits &limits)
{
	return "--max-text=" + std::to_string(limits.max_text);
}

// One helper process for one document: its answer is all it prints.
void run_once(const std::string &helper_path, Kind kind, std::string_view content_type,
	      std::string_view data, const Limits &limits, Document &doc)
{
	std::vector<std::string> args = {
		helper_path,
		kind == Kind::pdf ? "--mode=pdf" : kind == Kind::xml ? "--mode=xml" :
		kind == Kind::dmarc ? "--mode=dmarc" : "--mode=auto",
		max_text_argument(limits)};
	if (kind == Kind::automatic && !content_type.empty())
		args.push_back("--content-type=" + printable_content_type(content_type));
	ProcessLimits process_limits;
	if (limits.cpu_seconds > 0) {
		// SIGXCPU at the soft limit, SIGKILL a second later
		process_limits.cpu_soft = limits.cpu_seconds;
		process_limits.cpu_hard = static_cast<rlim_t>(limits.cpu_seconds) + 1;
	}
	process_limits.memory_bytes = static_cast<rlim_t>(limits.memory_bytes);

	// Declared before the helper: SIGPIPE stays blocked until it is reaped.
	SigpipeGuard sigpipe;
	HelperProcess helper;
	long long deadline = now_ms() + limits.timeout_ms;
	std::string error;
	if (!start_helper(args, process_limits, helper, error)) {
		doc.warnings.push_back(error);
		return;
	}

	std::string out, err;
	Exchange exchange{helper.stdin_pipe, helper.stdout_pipe, helper.stderr_pipe,
			  {data, {}}, false, out, err, limits.max_output, deadline, sigpipe};
	Exchange::End end = exchange.run();
	helper.stdin_pipe.reset();
	helper.stdout_pipe.reset();
	helper.stderr_pipe.reset();

	// stdout closed: wait for the exit within the same deadline
	if (end == Exchange::End::complete && !wait_for_exit(helper.child, deadline))
		end = Exchange::End::timed_out;
	// also takes down anything the helper left behind in its group
	helper.child.kill_group();
	helper.child.wait_blocking();

	if (end != Exchange::End::complete) {
		doc.warnings.push_back(describe_end(end, exchange.error, limits));
		return;
	}
	if (std::string why = exit_failure(helper.child, err, limits); !why.empty()) {
		doc.warnings.push_back(why);
		return;
	}
	// status unknown (reaped elsewhere): a complete answer still counts
	parse_answer(out, doc);
}

} // namespace

bool parse_answer(std::string_view json, Document &doc)
{
	nlohmann::json answer = nlohmann::json::parse(json, nullptr, false);
	bool valid = answer.is_object();
	const nlohmann::json *invoice = nullptr;
	const std::string *text = nullptr;
	const nlohmann::json *warnings = nullptr;
	if (valid) {
		auto it = answer.find("einvoice");
		valid = it != answer.end() && (it->is_null() || it->is_object());
		if (valid && it->is_object())
			invoice = &*it;
		text = string_field(answer, "text");
		auto w = answer.find("warnings");
		valid = valid && text != nullptr && w != answer.end() && w->is_array();
		if (valid)
			warnings = &*w;
	}
	einvoice::Invoice inv;
	if (valid && invoice != nullptr) {
		struct Field {
			const char *key;
			std::string *value;
		};
		const Field fields[] = {{"format", &inv.format}, {"number", &inv.number},
					{"date", &inv.date},     {"total", &inv.total},
					{"currency", &inv.currency}, {"seller", &inv.seller},
					{"vatid", &inv.vatid},   {"iban", &inv.iban}};
		for (const Field &field : fields) {
			const std::string *value = string_field(*invoice, field.key);
			if (value == nullptr) {
				valid = false;
				break;
			}
			*field.value = *value;
		}
		// Lists of accounts: a helper from before they existed has only
		// "iban", which then is the one payee account.
		struct List {
			const char *key;
			std::vector<std::string> *values;
		};
		const List lists[] = {{"payee_ibans", &inv.payee_ibans},
				      {"debtor_ibans", &inv.debtor_ibans}};
		for (const List &list : lists) {
			auto it = invoice->find(list.key);
			if (it == invoice->end())
				continue;
			if (!it->is_array()) {
				valid = false;
				break;
			}
			for (const nlohmann::json &v : *it) {
				if (!v.is_string()) {
					valid = false;
					break;
				}
				list.values->push_back(v.get<std::string>());
			}
		}
		if (invoice->find("payee_ibans") == invoice->end() && !inv.iban.empty())
			inv.payee_ibans.push_back(inv.iban);
		if (auto it = invoice->find("direct_debit"); it != invoice->end()) {
			if (it->is_boolean())
				inv.direct_debit = it->get<bool>();
			else
				valid = false;
		}
	}
	std::optional<dmarc::Report> report;
	if (valid) {
		// only in --mode=dmarc's answer
		if (auto it = answer.find("dmarc"); it != answer.end() && !it->is_null()) {
			report = dmarc::report_from_json(*it);
			valid = report.has_value();
		}
	}
	if (valid) {
		for (const nlohmann::json &w : *warnings) {
			if (!w.is_string()) {
				valid = false;
				break;
			}
		}
	}
	if (!valid) {
		doc.ok = false;
		doc.warnings.push_back("invalid output");
		return false;
	}
	doc.ok = true;
	if (invoice != nullptr)
		doc.einvoice = std::move(inv);
	doc.dmarc = std::move(report);
	doc.text = *text;
	for (const nlohmann::json &w : *warnings)
		doc.warnings.push_back(w.get<std::string>());
	return true;
}

namespace {

Document run_guarded(const std::string &helper_path, Kind kind, std::string_view content_type,
		     std::string_view data, const Limits &limits)
{
	Document doc;
	try {
		run_once(helper_path, kind, content_type, data, limits, doc);
	} catch (const std::bad_alloc &) {
		throw;
	} catch (const std::exception &e) {
		doc.ok = false;
		doc.einvoice.reset();
		doc.dmarc.reset();
		doc.text.clear();
		doc.warnings.push_back(std::string("internal error: ") + e.what());
	}
	return doc;
}

} // namespace

Document analyse(const std::string &helper_path, Kind kind, std::string_view data,
		 const Limits &limits)
{
	return run_guarded(helper_path, kind, "", data, limits);
}

Document extract_text(const std::string &helper_path, std::string_view data,
		      std::string_view content_type_hint, const Limits &limits)
{
	return run_guarded(helper_path, Kind::automatic, content_type_hint, data, limits);
}

// ------------------------------------------------------------ Session

struct Session::Helper {
	HelperProcess process;
	pid_t owner = ::getpid(); // a forked child must keep its hands off
	unsigned documents = 0;
};

namespace {

// The helper takes at most a day per document.
constexpr unsigned kMaxCpuSeconds = 86400;

std::vector<std::string> serve_arguments(const std::string &helper_path, const Limits &limits)
{
	std::vector<std::string> args = {helper_path, "--serve", max_text_argument(limits)};
	if (limits.cpu_seconds > 0)
		args.push_back("--cpu-limit=" +
			       std::to_string(std::min(limits.cpu_seconds, kMaxCpuSeconds)));
	return args;
}

// The helper moves its soft CPU limit before each document (its share on
// top of what it has used); the hard limit is only a cap that all its
// documents together can't reach without a fault.
ProcessLimits serve_limits(const Limits &limits, unsigned max_documents)
{
	ProcessLimits process_limits;
	if (limits.cpu_seconds > 0) {
		rlim_t share = std::min(limits.cpu_seconds, kMaxCpuSeconds);
		// + 1: the helper rounds what it has used up to a second
		rlim_t cap = (share + 1) * (static_cast<rlim_t>(max_documents) + 1);
		process_limits.cpu_soft = cap;
		process_limits.cpu_hard = cap;
	}
	process_limits.memory_bytes = static_cast<rlim_t>(limits.memory_bytes);
	return process_limits;
}

} // namespace

Session::Session(std::string helper_path, Limits limits, unsigned max_documents)
	: helper_path_(std::move(helper_path)), limits_(limits),
	  max_documents_(std::max(max_documents, 1u))
{
}

Session::~Session()
{
	stop_helper(kExitGraceMs);
}

pid_t Session::helper_pid() const
{
	if (!helper_ || helper_->owner != ::getpid())
		return -1;
	return helper_->process.child.pid();
}

void Session::stop_helper(unsigned grace_ms)
{
	if (!helper_)
		return;
	Child &child = helper_->process.child;
	if (helper_->owner != ::getpid()) {
		// our copy after a fork(): the helper is the parent's
		child.disown();
	} else {
		helper_->process.stdin_pipe.reset(); // EOF: it exits
		wait_for_exit(child, now_ms() + grace_ms);
		// it, if it didn't, and whatever it left in its group
		child.kill_group();
		child.wait_blocking();
	}
	helper_.reset();
}

// A document handed to the helper whose answer hasn't been read yet.
struct Session::Pending {
	long long deadline = 0;
	std::string out, err;
	// the request never reached a helper: this is the answer
	std::optional<Document> failed;
	// the exchange already ended while the request was written
	std::optional<Exchange::End> end;
	std::size_t body_start = 0;
	int error = 0;
};

Document Session::extract_text(std::string_view data, std::string_view content_type_hint)
{
	submit(data, content_type_hint);
	return collect();
}

void Session::submit(std::string_view data, std::string_view content_type_hint)
{
	if (pending_)
		(void)collect(); // one at a time; its answer is dropped
	pending_ = std::make_unique<Pending>();
	try {
		send(data, content_type_hint, *pending_);
	} catch (const std::bad_alloc &) {
		// possibly in the middle of a request: the helper can't stay
		stop_helper(0);
		pending_.reset();
		throw;
	} catch (const std::exception &e) {
		stop_helper(0);
		pending_->failed.emplace();
		pending_->failed->warnings.push_back(std::string("internal error: ") + e.what());
	}
}

Document Session::collect()
{
	Document doc;
	std::unique_ptr<Pending> pending = std::move(pending_);
	if (!pending) {
		doc.warnings.push_back("internal error: no document was submitted");
		return doc;
	}
	try {
		receive(*pending, doc);
	} catch (const std::bad_alloc &) {
		stop_helper(0);
		throw;
	} catch (const std::exception &e) {
		stop_helper(0);
		doc = Document{};
		doc.warnings.push_back(std::string("internal error: ") + e.what());
	}
	return doc;
}

void Session::send(std::string_view data, std::string_view content_type_hint, Pending &pending)
{
	// Replaced without a warning: the parent's helper after a fork, a
	// helper that has done its share, and one that died between
	// documents, which is no fault of this one.
	if (helper_ && (helper_->owner != ::getpid() || helper_->documents >= max_documents_ ||
			helper_->process.child.has_exited()))
		stop_helper(kExitGraceMs);

	// Declared before the helper starts: SIGPIPE blocked while we write.
	SigpipeGuard sigpipe;
	pending.deadline = now_ms() + limits_.timeout_ms;
	if (!helper_) {
		auto helper = std::make_unique<Helper>();
		std::string error;
		if (!start_helper(serve_arguments(helper_path_, limits_),
				  serve_limits(limits_, max_documents_), helper->process, error)) {
			pending.failed.emplace();
			pending.failed->warnings.push_back(error);
			return;
		}
		helper_ = std::move(helper);
		helpers_started_++;
	}

	HelperProcess &process = helper_->process;
	std::string request_line = std::to_string(data.size());
	if (std::string type = printable_content_type(content_type_hint); !type.empty())
		request_line += " " + type;
	request_line += '\n';
	Exchange exchange{process.stdin_pipe, process.stdout_pipe, process.stderr_pipe,
			  {request_line, data}, true, pending.out, pending.err, limits_.max_output,
			  pending.deadline, sigpipe};
	exchange.stop_when_written = true;
	Exchange::End end = exchange.run();
	helper_->documents++;
	if (end != Exchange::End::written) {
		pending.end = end;
		pending.body_start = exchange.frame.body_start;
		pending.error = exchange.error;
	}
}

// An answer that came while the caller was busy elsewhere gets this long
// to be read, whatever the wall clock says.
constexpr long long kCollectGraceMs = 1000;

void Session::receive(Pending &pending, Document &doc)
{
	if (pending.failed) {
		doc = std::move(*pending.failed);
		return;
	}
	if (!helper_ || helper_->owner != ::getpid()) {
		// submitted by the parent before a fork: not ours to read
		doc.warnings.push_back("no answer (the helper belongs to another process)");
		return;
	}
	HelperProcess &process = helper_->process;
	long long deadline = std::max(pending.deadline, now_ms() + kCollectGraceMs);
	Exchange::End end;
	std::size_t body_start;
	int error;
	if (pending.end) {
		end = *pending.end;
		body_start = pending.body_start;
		error = pending.error;
	} else {
		SigpipeGuard sigpipe;
		Exchange exchange{process.stdin_pipe, process.stdout_pipe, process.stderr_pipe,
				  {std::string_view(), std::string_view()}, true, pending.out,
				  pending.err, limits_.max_output, deadline, sigpipe};
		end = exchange.run();
		body_start = exchange.frame.body_start;
		error = exchange.error;
	}

	if (end == Exchange::End::complete) {
		if (parse_answer(std::string_view(pending.out).substr(body_start), doc))
			return;
		// a helper that says what we can't read may say anything next
		stop_helper(0);
		return;
	}

	// Failed: this document is lost, the next gets a fresh helper.
	if (end == Exchange::End::helper_gone && !wait_for_exit(process.child, deadline))
		end = Exchange::End::timed_out;
	process.child.kill_group();
	process.child.wait_blocking();
	std::string why = end == Exchange::End::helper_gone ?
		exit_failure(process.child, pending.err, limits_) : std::string();
	if (why.empty())
		why = describe_end(end, error, limits_);
	doc.warnings.push_back(why);
	stop_helper(0);
}

} // namespace tresor::extract
