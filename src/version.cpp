#include "granite/version.hpp"

#ifndef GRANITE_VERSION
#error "GRANITE_VERSION must be defined by the build"
#endif

namespace granite {
const char* const version = GRANITE_VERSION;
}
