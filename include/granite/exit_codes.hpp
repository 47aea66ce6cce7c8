#pragma once

// Exit statuses of every granite process. Values follow sysexits(3) where one
// fits, so that systemd's RestartPreventExitStatus= can name the ones that a
// restart will not fix.
namespace granite::exit_code {
inline constexpr int ok = 0;
inline constexpr int failure = 1;        // runtime failure not covered below
inline constexpr int worker_boot_failure = 3;  // a worker could not start serving
inline constexpr int workers_crash_looping = 4;  // every worker slot kept failing
inline constexpr int usage = 64;         // EX_USAGE: bad command line
inline constexpr int data_error = 65;    // EX_DATAERR: bad seed file
inline constexpr int no_user = 67;      // EX_NOUSER: grant or revoke of a username no account has
inline constexpr int unavailable = 69;   // EX_UNAVAILABLE: database unreachable
inline constexpr int software = 70;      // EX_SOFTWARE: internal error
inline constexpr int os_error = 71;      // EX_OSERR: fork, socket, bind ...
inline constexpr int config = 78;        // EX_CONFIG: invalid configuration
}  // namespace granite::exit_code
