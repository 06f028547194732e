#pragma once
// The log directory's safety, checked once at start. gpioirqd usually runs as root; in a
// directory that another user can write, that user could plant a link (or a file) at a
// name the daemon is about to write and so aim its writes anywhere. The files themselves
// are opened without following links (append_file.hpp); this refuses the directory that
// would make planting possible at all.

#include <sys/types.h>

#include <string>

namespace gpioirq::sinks {

// Creates `dir` (with its parents) if it is missing, without write permission for group
// and others whatever the umask; then checks it. Returns "" when the directory is fit
// for logs, else one sentence for the user saying what is wrong and how to fix it:
// - not a directory, or it cannot be created or read;
// - owned by a user other than this process's effective user and root;
// - writable by group or others, unless it is sticky (like /tmp) and owned by this
//   process's effective user (others can then add names, but not replace or remove ours,
//   and links they plant are refused at open).
std::string prepare_log_dir(const std::string& dir);

// Lets the socket group read the logs (`gpioirqctl decode` as a member of it): gives `dir`
// (when this process owns it) to `group` with mode g+rx, and gives it the files already
// there that this process owns; files made later take the directory's group when they are
// opened (append_file.cpp). Nothing is made group-writable. Returns
// "" when done, else one sentence saying what could not be done (not fatal: the logs are
// still written, only the group cannot read them).
std::string share_log_dir(const std::string& dir, gid_t group);

}  // namespace gpioirq::sinks
