#pragma once
// The log directory's safety, checked once at start. gpioirqd usually runs as root; in a
// directory that another user can write, that user could plant a link (or a file) at a
// name the daemon is about to write and so aim its writes anywhere. The files themselves
// are opened without following links (append_file.hpp); this refuses the directory that
// would make planting possible at all.

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

}  // namespace gpioirq::sinks
