// Threads started inside a Dovecot process.
#pragma once

#include <csignal>
#include <pthread.h>
#include <system_error>
#include <utility>

namespace tresor::threads {

// Calls start() with every signal blocked, so that a thread it creates
// inherits that mask: Dovecot's signal handlers (SIGTERM, SIGCHLD, ...)
// then never run on our threads, which call nothing of Dovecot's. The
// caller's mask is restored, also when start() throws.
template <class Start> auto with_signals_blocked(Start &&start)
{
	sigset_t all, old;
	sigfillset(&all);
	int rc = ::pthread_sigmask(SIG_SETMASK, &all, &old);
	if (rc != 0)
		throw std::system_error(rc, std::generic_category(), "pthread_sigmask");
	struct Restore {
		sigset_t mask;
		~Restore() { ::pthread_sigmask(SIG_SETMASK, &mask, nullptr); }
	} restore{old};
	return std::forward<Start>(start)();
}

} // namespace tresor::threads
