#pragma once
// The system calls of the hot path (epoll_wait, recv, send, sendmsg), made as plain
// system calls.
//
// glibc's epoll_wait(), recv(), send() and sendmsg() are thread cancellation points: each wraps the
// system call in enabling and disabling asynchronous cancellation, about 60 instructions
// per call that buy nothing here (no thread of ours is ever cancelled with
// pthread_cancel). With one recv and one send per echoed message that was 7% of the
// server's own instructions per message (callgrind, echo with one message in flight).
// syscall() is not a cancellation point; results and errno are as the libc calls'.
// Sanitizer builds keep the libc calls: AddressSanitizer checks their buffers and
// ThreadSanitizer sees the ordering a socket creates between threads only through them.

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define WIREHUB_LIBC_SOCKET_CALLS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define WIREHUB_LIBC_SOCKET_CALLS 1
#endif
#endif

namespace wirehub::sys {

#if WIREHUB_LIBC_SOCKET_CALLS
inline int epoll_wait(int epfd, epoll_event* events, int max, int timeout) noexcept {
  return ::epoll_wait(epfd, events, max, timeout);
}
inline ssize_t recv(int fd, void* buf, std::size_t n, int flags) noexcept { return ::recv(fd, buf, n, flags); }
inline ssize_t send(int fd, const void* buf, std::size_t n, int flags) noexcept { return ::send(fd, buf, n, flags); }
inline ssize_t sendmsg(int fd, const msghdr* msg, int flags) noexcept { return ::sendmsg(fd, msg, flags); }
#else
inline int epoll_wait(int epfd, epoll_event* events, int max, int timeout) noexcept {
  return static_cast<int>(::syscall(SYS_epoll_wait, epfd, events, max, timeout));
}
inline ssize_t recv(int fd, void* buf, std::size_t n, int flags) noexcept {
  return ::syscall(SYS_recvfrom, fd, buf, n, flags, nullptr, nullptr);
}
inline ssize_t send(int fd, const void* buf, std::size_t n, int flags) noexcept {
  return ::syscall(SYS_sendto, fd, buf, n, flags, nullptr, 0);
}
inline ssize_t sendmsg(int fd, const msghdr* msg, int flags) noexcept {
  return ::syscall(SYS_sendmsg, fd, msg, flags);
}
#endif

}  // namespace wirehub::sys
