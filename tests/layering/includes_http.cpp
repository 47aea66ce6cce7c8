// Must not compile in a module that does not link http.
#include "granite/http/cache.hpp"
