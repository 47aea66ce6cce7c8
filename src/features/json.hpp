#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace granite::features {

// A list as a compact JSON array, each item made an object by `object`.
template <class T, class F>
std::string json_array(const std::vector<T>& items, F object) {
  auto out = nlohmann::ordered_json::array();
  for (const auto& item : items) out.push_back(object(item));
  return out.dump();
}

}  // namespace granite::features
