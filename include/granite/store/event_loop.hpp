#pragma once

// Making the worker's database on its event loop: the one header of the
// store that names Asio, for the worker (and tests) alone.
#include <boost/asio/io_context.hpp>
#include <memory>

#include "granite/store/async.hpp"

namespace granite::store {

std::unique_ptr<database> make_database(boost::asio::io_context& loop, database_options options);

}  // namespace granite::store
