#pragma once

// IP addresses and networks (CIDR), for the proxies granite trusts: parsed
// by the configuration, matched by the sessions. IPv4 addresses are kept as
// IPv4-mapped IPv6 (::ffff:a.b.c.d), so that one form covers both families
// and a dual-stack socket's peer matches an IPv4 network.
#include <arpa/inet.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "granite/text.hpp"

namespace granite {

struct ip_address {
  std::array<std::uint8_t, 16> bytes{};

  bool is_v4() const {
    static constexpr std::uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(bytes.data(), prefix, sizeof prefix) == 0;
  }
  bool operator==(const ip_address&) const = default;

  // The first `prefix` bits of the 128-bit form, the rest cleared: the
  // network's address (an IPv4 /24 is masked(120)).
  ip_address masked(int prefix) const {
    ip_address out = *this;
    for (int bit = prefix; bit < 128; ++bit)
      out.bytes[static_cast<std::size_t>(bit / 8)] &= static_cast<std::uint8_t>(~(0x80 >> (bit % 8)));
    return out;
  }

  // "192.0.2.1", "2001:db8::1" (a mapped IPv4 address is written as IPv4).
  std::string text() const {
    char buf[INET6_ADDRSTRLEN];
    if (is_v4()) return inet_ntop(AF_INET, bytes.data() + 12, buf, sizeof buf) ? buf : "";
    return inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf) ? buf : "";
  }

  // An IPv4 or IPv6 address, nothing around it (no port, no brackets, no
  // zone); nullopt otherwise.
  static std::optional<ip_address> parse(std::string_view text) {
    char buf[INET6_ADDRSTRLEN];
    if (text.empty() || text.size() >= sizeof buf) return std::nullopt;
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    ip_address a;
    if (inet_pton(AF_INET, buf, a.bytes.data() + 12) == 1) {
      a.bytes[10] = a.bytes[11] = 0xff;
      return a;
    }
    if (inet_pton(AF_INET6, buf, a.bytes.data()) == 1) return a;
    return std::nullopt;
  }
};

struct ip_network {
  ip_address base;
  int prefix = 128;  // in the 128-bit form: an IPv4 /24 is /120

  bool contains(const ip_address& a) const {
    int full = prefix / 8;
    if (std::memcmp(a.bytes.data(), base.bytes.data(), static_cast<std::size_t>(full)) != 0) return false;
    int rest = prefix % 8;
    if (rest == 0) return true;
    auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
    return (a.bytes[static_cast<std::size_t>(full)] & mask) == (base.bytes[static_cast<std::size_t>(full)] & mask);
  }

  // "10.0.0.0/8", "2001:db8::/32", or one address ("10.1.2.3": /32,
  // "::1": /128). Host bits set below the prefix are refused (a typo,
  // most likely); nullopt for anything else.
  static std::optional<ip_network> parse(std::string_view text) {
    auto slash = text.find('/');
    auto address = ip_address::parse(text.substr(0, slash));
    if (!address) return std::nullopt;
    int width = address->is_v4() ? 32 : 128;
    int bits = width;
    if (slash != std::string_view::npos) {
      auto digits = text.substr(slash + 1);
      if (digits.empty() || digits.size() > 3) return std::nullopt;
      bits = 0;
      for (char ch : digits) {
        if (ch < '0' || ch > '9') return std::nullopt;
        bits = bits * 10 + (ch - '0');
      }
      if (bits > width) return std::nullopt;
    }
    ip_network n{*address, bits + (128 - width)};
    if (address->masked(n.prefix) != *address) return std::nullopt;  // host bits set
    return n;
  }
};

// "127.0.0.1:9464" or "[::1]:9464": an address and a port (1 to 65535);
// nullopt for anything else.
struct host_port {
  std::string host;
  int port = 0;
  static std::optional<host_port> parse(std::string_view text) {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon + 1 == text.size() || text.size() - colon > 6) return std::nullopt;
    auto host = text.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
      auto a = ip_address::parse(host);
      if (!a || a->is_v4() || host.find('.') != std::string_view::npos) return std::nullopt;
    } else if (!ip_address::parse(host) || host.find(':') != std::string_view::npos) {
      return std::nullopt;
    }
    int port = 0;
    for (char ch : text.substr(colon + 1)) {
      if (ch < '0' || ch > '9') return std::nullopt;
      port = port * 10 + (ch - '0');
    }
    if (port < 1 || port > 65535) return std::nullopt;
    return host_port{std::string(host), port};
  }
};

// Whether `a` is in any of `networks`.
inline bool in_any(const std::vector<ip_network>& networks, const ip_address& a) {
  for (const auto& n : networks)
    if (n.contains(a)) return true;
  return false;
}

// One entry of X-Forwarded-For: an address, perhaps with a port as some
// proxies add it ("192.0.2.1:5050", "[2001:db8::1]:5050"); nullopt for
// anything else ("unknown", an obfuscated name).
inline std::optional<ip_address> forwarded_entry(std::string_view entry) {
  entry = trim_ows(entry);
  if (entry.empty()) return std::nullopt;
  if (auto a = ip_address::parse(entry)) return a;
  if (entry.front() == '[') {
    auto close = entry.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    return ip_address::parse(entry.substr(1, close - 1));
  }
  auto colon = entry.find(':');
  if (colon != std::string_view::npos && entry.find(':', colon + 1) == std::string_view::npos)
    return ip_address::parse(entry.substr(0, colon));
  return std::nullopt;
}

// The client of a request: the peer, unless the peer is a trusted proxy;
// then the right-most address of X-Forwarded-For (each proxy appends the
// address it saw) that is not itself trusted. Entries left of that one are
// whatever the client chose to send and are never believed. When the walk
// meets an entry that is not an address, the last trusted hop before it is
// the client; when every entry is trusted, the left-most.
inline ip_address forwarded_client(const ip_address& peer, std::string_view forwarded_for,
                                   const std::vector<ip_network>& trusted) {
  ip_address client = peer;
  if (trusted.empty() || !in_any(trusted, peer)) return client;
  while (!forwarded_for.empty()) {
    auto comma = forwarded_for.rfind(',');
    auto entry = comma == std::string_view::npos ? forwarded_for : forwarded_for.substr(comma + 1);
    forwarded_for = comma == std::string_view::npos ? std::string_view() : forwarded_for.substr(0, comma);
    auto address = forwarded_entry(entry);
    if (!address) return client;
    client = *address;
    if (!in_any(trusted, client)) return client;
  }
  return client;
}

}  // namespace granite
