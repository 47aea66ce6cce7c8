#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

namespace granite::testkit {

// Starts `path args...` with this process's environment plus `env`, its
// stdout and stderr sent to the given files. Returns the pid.
pid_t spawn(const std::string& path, const std::vector<std::string>& args,
            const std::map<std::string, std::string>& env, const std::string& out_path,
            const std::string& err_path);

std::string read_text(const std::string& path);

}  // namespace granite::testkit
