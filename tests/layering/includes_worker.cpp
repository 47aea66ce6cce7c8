// Must not compile in a module that does not link the worker.
#include "granite/worker/worker.hpp"
