// Must not compile where libpqxx is forbidden.
#include <pqxx/pqxx>
