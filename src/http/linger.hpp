#pragma once

// Closing a connection on which the client may still be sending: requests
// pipelined after the last one answered (the last of
// http.max_requests_per_connection, an error, the drain). Closed at once
// with unread bytes, its socket would send a reset, which can destroy the
// final response before the client has read it. Instead the sending side
// is shut (the client sees the response end), what still comes is read and
// thrown away, and the socket closes at the client's end of stream, or at
// the latest after linger_time or linger_bytes. `count` counts the
// connections lingering (a stopping worker waits for them too). Private to
// http/.
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>

namespace granite::http {

inline constexpr std::chrono::seconds linger_time{5};
inline constexpr std::size_t linger_bytes = 1 << 20;

void close_lingering(boost::asio::ip::tcp::socket socket, std::size_t& count);

}  // namespace granite::http
