#include "extract_client.hpp"

#include <algorithm>
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

// Closes a file descriptor on scope exit.
class Fd {
public:
	explicit Fd(int fd = -1) : fd_(fd) {}
	~Fd() { reset(); }
	Fd(const Fd &) = delete;
	Fd &operator=(const Fd &) = delete;
	int get() const { return fd_; }
	explicit operator bool() const { return fd_ >= 0; }
	void reset(int fd = -1)
	{
		if (fd_ >= 0)
			::close(fd_);
		fd_ = fd;
	}

private:
	int fd_;
};

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

// Everything the child needs, prepared before fork(): after it, only
// async-signal-safe calls are allowed.
struct SpawnPlan {
	const char *path;
	char *const *argv;
	char *const *envp;
	int stdin_fd, stdout_fd, stderr_fd, status_fd;
	const Limits *limits;
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

	const Limits &limits = *plan.limits;
	if (limits.cpu_seconds > 0) {
		// SIGXCPU at the soft limit, SIGKILL a second later
		struct rlimit cpu;
		cpu.rlim_cur = limits.cpu_seconds;
		cpu.rlim_max = static_cast<rlim_t>(limits.cpu_seconds) + 1;
		struct rlimit current;
		if (::getrlimit(RLIMIT_CPU, &current) == 0 && current.rlim_max != RLIM_INFINITY) {
			cpu.rlim_max = std::min(cpu.rlim_max, current.rlim_max);
			cpu.rlim_cur = std::min(cpu.rlim_cur, cpu.rlim_max);
		}
		if (::setrlimit(RLIMIT_CPU, &cpu) < 0)
			child_fail(status_fd, errno);
	}
	if (limits.memory_bytes > 0)
		lower_limit(RLIMIT_AS, static_cast<rlim_t>(limits.memory_bytes));
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

// Pumps data into the helper's stdin and its stdout/stderr into strings
// until both are done, the deadline passes or the output grows too large.
struct Pump {
	enum class End { done, timed_out, too_large, failed };

	Fd &in;
	Fd &out;
	Fd &err;
	std::string_view data;
	std::string &out_buf;
	std::string &err_buf;
	std::size_t max_output;
	long long deadline;
	SigpipeGuard &sigpipe;
	int error = 0;

	End run()
	{
		std::size_t written = 0;
		if (data.empty())
			in.reset();
		char buf[kIoChunk];
		while (in || out || err) {
			long long left = deadline - now_ms();
			if (left <= 0)
				return End::timed_out;
			struct pollfd fds[3];
			nfds_t n = 0;
			int in_idx = -1, out_idx = -1, err_idx = -1;
			if (in) {
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
				std::size_t chunk = std::min(kIoChunk, data.size() - written);
				ssize_t ret = ::write(in.get(), data.data() + written, chunk);
				if (ret > 0) {
					written += static_cast<std::size_t>(ret);
					if (written == data.size())
						in.reset(); // EOF for the helper
				} else if (ret < 0 && errno == EPIPE) {
					// it stopped reading; its answer tells why
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
				if (out_buf.size() > max_output)
					return End::too_large;
			}
			if (err_idx >= 0 && fds[err_idx].revents != 0) {
				if (!drain(err, err_buf, buf))
					return End::failed;
				// only the end is reported
				if (err_buf.size() > kMaxStderr)
					err_buf.erase(0, err_buf.size() - kMaxStderr);
			}
		}
		return End::done;
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

// A MIME type from a mail header made safe as one argument: printable
// ASCII, not too long.
std::string content_type_argument(std::string_view content_type)
{
	std::string arg = "--content-type=";
	for (char c : content_type.substr(0, 200))
		if (c > ' ' && c < 0x7F)
			arg += c;
		else if (c == ' ' || c == '\t')
			arg += ' ';
	return arg;
}

void run_helper(const std::string &helper_path, Kind kind, std::string_view content_type,
		std::string_view data, const Limits &limits, Document &doc)
{
	std::string mode = kind == Kind::pdf ? "--mode=pdf" :
			   kind == Kind::xml ? "--mode=xml" : "--mode=auto";
	std::string max_text = "--max-text=" + std::to_string(limits.max_text);
	std::string type_arg = content_type_argument(content_type);
	bool pass_type = kind == Kind::automatic && !content_type.empty();
	char *argv[] = {const_cast<char *>(helper_path.c_str()), mode.data(),
			max_text.data(), pass_type ? type_arg.data() : nullptr, nullptr};
	// The helper needs no environment; nothing of the caller's leaks.
	char *envp[] = {nullptr};

	Fd in_read, in_write, out_read, out_write, err_read, err_write;
	Fd status_read, status_write;
	const std::pair<Fd *, Fd *> pipes[] = {{&in_read, &in_write}, {&out_read, &out_write},
					       {&err_read, &err_write},
					       {&status_read, &status_write}};
	for (auto [r, w] : pipes) {
		if (int error = make_pipe(*r, *w); error != 0) {
			doc.warnings.push_back("can't create pipe: " + errno_text(error));
			return;
		}
	}
	for (Fd *fd : {&in_write, &out_read, &err_read}) {
		if (int error = set_nonblocking(fd->get()); error != 0) {
			doc.warnings.push_back("can't set up pipe: " + errno_text(error));
			return;
		}
	}
	long open_max = ::sysconf(_SC_OPEN_MAX);
	SpawnPlan plan{helper_path.c_str(), argv, envp,
		       in_read.get(), out_write.get(), err_write.get(), status_write.get(),
		       &limits,
		       static_cast<int>(std::clamp(open_max, 256L, 65536L))};

	// Blocked before fork() so that the window is covered; the child
	// unblocks it before exec.
	SigpipeGuard sigpipe;
	Child child;
	long long deadline = now_ms() + limits.timeout_ms;
	pid_t pid = ::fork();
	if (pid < 0) {
		doc.warnings.push_back("can't start " + helper_path + ": fork: " +
				       errno_text(errno));
		return;
	}
	if (pid == 0)
		exec_child(plan);
	child.started(pid);
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
	status_read.reset();
	if (exec_error != 0) {
		child.wait_blocking();
		doc.warnings.push_back("can't execute " + helper_path + ": " +
				       errno_text(exec_error));
		return;
	}

	std::string out, err;
	Pump pump{in_write, out_read, err_read, data, out, err,
		  limits.max_output, deadline, sigpipe};
	Pump::End end = pump.run();
	in_write.reset();
	out_read.reset();
	err_read.reset();

	// stdout closed: wait for the exit within the same deadline
	if (end == Pump::End::done) {
		for (int pause = 1; !child.has_exited(); pause = std::min(pause * 2, 50)) {
			if (now_ms() >= deadline) {
				end = Pump::End::timed_out;
				break;
			}
			::poll(nullptr, 0, pause);
		}
	}
	// also takes down anything the helper left behind in its group
	child.kill_group();
	child.wait_blocking();

	switch (end) {
	case Pump::End::timed_out:
		doc.warnings.push_back("timed out after " + std::to_string(limits.timeout_ms) +
				       " ms");
		return;
	case Pump::End::too_large:
		doc.warnings.push_back("output larger than " + std::to_string(limits.max_output) +
				       " bytes");
		return;
	case Pump::End::failed:
		doc.warnings.push_back("talking to the helper failed: " + errno_text(pump.error));
		return;
	case Pump::End::done:
		break;
	}

	if (child.status_known()) {
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
			doc.warnings.push_back(why);
			return;
		}
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
		run_helper(helper_path, kind, content_type, data, limits, doc);
	} catch (const std::bad_alloc &) {
		throw;
	} catch (const std::exception &e) {
		doc.ok = false;
		doc.einvoice.reset();
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

} // namespace tresor::extract
