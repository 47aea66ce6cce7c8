// Must not compile where Beast is forbidden.
#include <boost/beast/http/message.hpp>
