// Networks and the client behind trusted proxies: what http.trusted_proxies
// accepts, and whose address a forged X-Forwarded-For can and cannot claim.
#include "granite/network.hpp"

#include <gtest/gtest.h>

using granite::forwarded_client;
using granite::ip_address;
using granite::ip_network;

namespace {

ip_address addr(const char* text) {
  auto a = ip_address::parse(text);
  EXPECT_TRUE(a) << text;
  return a.value_or(ip_address{});
}

std::vector<ip_network> nets(std::initializer_list<const char*> texts) {
  std::vector<ip_network> out;
  for (const char* t : texts) {
    auto n = ip_network::parse(t);
    EXPECT_TRUE(n) << t;
    if (n) out.push_back(*n);
  }
  return out;
}

std::string client(const char* peer, const char* xff, const std::vector<ip_network>& trusted) {
  return forwarded_client(addr(peer), xff, trusted).text();
}

}  // namespace

TEST(Network, ParsesAddressesOfBothFamiliesAndWritesThemBack) {
  EXPECT_EQ(addr("192.0.2.1").text(), "192.0.2.1");
  EXPECT_TRUE(addr("192.0.2.1").is_v4());
  EXPECT_EQ(addr("2001:DB8::1").text(), "2001:db8::1");
  EXPECT_FALSE(addr("::1").is_v4());
  // A dual-stack socket's peer is the same IPv4 address.
  EXPECT_EQ(addr("::ffff:192.0.2.1"), addr("192.0.2.1"));
  for (const char* bad : {"", "192.0.2", "192.0.2.256", "192.0.2.1:80", "[::1]", "example.com", " 192.0.2.1",
                          "fe80::1%eth0", "1.2.3.4/32"})
    EXPECT_FALSE(ip_address::parse(bad)) << bad;
}

TEST(Network, NetworksMatchTheirAddressesOnly) {
  auto n = ip_network::parse("10.0.0.0/16").value();
  EXPECT_TRUE(n.contains(addr("10.0.255.255")));
  EXPECT_FALSE(n.contains(addr("10.1.0.0")));
  EXPECT_FALSE(n.contains(addr("::a00:1")));  // an IPv6 address with the same low bits
  auto odd = ip_network::parse("172.16.0.0/12").value();
  EXPECT_TRUE(odd.contains(addr("172.31.200.1")));
  EXPECT_FALSE(odd.contains(addr("172.32.0.1")));
  auto one = ip_network::parse("192.0.2.7").value();
  EXPECT_TRUE(one.contains(addr("192.0.2.7")));
  EXPECT_FALSE(one.contains(addr("192.0.2.8")));
  auto v6 = ip_network::parse("2001:db8::/32").value();
  EXPECT_TRUE(v6.contains(addr("2001:db8:ffff::1")));
  EXPECT_FALSE(v6.contains(addr("2001:db9::1")));
  auto all = ip_network::parse("0.0.0.0/0").value();
  EXPECT_TRUE(all.contains(addr("203.0.113.9")));
  EXPECT_FALSE(all.contains(addr("2001:db8::1")));
}

TEST(Network, RefusesWhatIsNotANetwork) {
  for (const char* bad : {"10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x", "10.0.0.1/8", "10.0.0.0/-1",
                          "10.0.0.0/8/8", "10.0.0.0 /8", "/8", "10.0.0.0/0008"})
    EXPECT_FALSE(ip_network::parse(bad)) << bad;
}

TEST(Network, TheClientIsThePeerUnlessThePeerIsTrusted) {
  auto trusted = nets({"10.0.0.0/8"});
  // No proxy is trusted: the header is the client's own text.
  EXPECT_EQ(client("203.0.113.5", "198.51.100.1", {}), "203.0.113.5");
  // A client that forges the header directly is not a trusted peer.
  EXPECT_EQ(client("203.0.113.5", "198.51.100.1", trusted), "203.0.113.5");
  // Through the load balancer: what it saw.
  EXPECT_EQ(client("10.0.1.20", "198.51.100.1", trusted), "198.51.100.1");
  // Without a header, the proxy itself.
  EXPECT_EQ(client("10.0.1.20", "", trusted), "10.0.1.20");
}

TEST(Network, AForgedLeftPartOfTheHeaderIsNeverBelieved) {
  auto trusted = nets({"10.0.0.0/8"});
  // The client sent "X-Forwarded-For: 1.1.1.1"; the balancer appended the
  // address it saw.
  EXPECT_EQ(client("10.0.1.20", "1.1.1.1, 198.51.100.1", trusted), "198.51.100.1");
  // Even when the forged part names a trusted address.
  EXPECT_EQ(client("10.0.1.20", "10.9.9.9, 198.51.100.1", trusted), "198.51.100.1");
  // Two trusted hops (a CDN in front of the balancer, both trusted).
  auto both = nets({"10.0.0.0/8", "192.0.2.0/24"});
  EXPECT_EQ(client("10.0.1.20", "1.1.1.1, 198.51.100.1, 192.0.2.50", both), "198.51.100.1");
  // Repeated fields arrive joined.
  EXPECT_EQ(client("10.0.1.20", "1.1.1.1,198.51.100.1 ,  192.0.2.50", both), "198.51.100.1");
}

TEST(Network, AnEntryThatIsNoAddressEndsTheWalk) {
  auto trusted = nets({"10.0.0.0/8", "192.0.2.0/24"});
  EXPECT_EQ(client("10.0.1.20", "198.51.100.1, unknown", trusted), "10.0.1.20");
  EXPECT_EQ(client("10.0.1.20", "198.51.100.1, unknown, 192.0.2.50", trusted), "192.0.2.50");
  EXPECT_EQ(client("10.0.1.20", "198.51.100.1,", trusted), "10.0.1.20");
  // Every hop trusted: the left-most.
  EXPECT_EQ(client("10.0.1.20", "192.0.2.9, 10.2.3.4", trusted), "192.0.2.9");
  // Ports, as some proxies write them.
  EXPECT_EQ(client("10.0.1.20", "198.51.100.1:5050", trusted), "198.51.100.1");
  EXPECT_EQ(client("10.0.1.20", "[2001:db8::7]:5050", trusted), "2001:db8::7");
  EXPECT_EQ(client("10.0.1.20", "2001:db8::7", trusted), "2001:db8::7");
}
