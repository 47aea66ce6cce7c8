// Must not compile where Asio is forbidden.
#include <boost/asio/io_context.hpp>
