// Must not compile where libpq is forbidden.
#include <libpq-fe.h>
