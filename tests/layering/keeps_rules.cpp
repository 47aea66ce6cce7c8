// A control probe: compiled as each module is, it uses only what every
// module may use. It must compile, or the failing probes prove nothing.
#include <spdlog/spdlog.h>

#include <string>

#include "granite/error.hpp"

int granite_probe() { return static_cast<int>(std::string("granite").size()); }
