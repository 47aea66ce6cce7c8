#pragma once

namespace granite {

// The release, e.g. "0.1.0": shown by `granite version` and in the Server
// header. Defined by the executable (src/version.cpp, compiled with
// GRANITE_VERSION), not by granite_core, so that a build differs in one object.
extern const char* const version;

}  // namespace granite
