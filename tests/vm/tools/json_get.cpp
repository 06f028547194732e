// json_get: picks values out of a JSON reply (gpioirqctl --json) for the VM scenarios, whose
// busybox shell has no JSON parser.
//
//   json_get [-f FILE] PATH...        reads one JSON document from FILE (default stdin)
//
// PATH is a chain of steps:
//   name        member of an object            status: "ring.capacity"
//   N           element N of an array          "encoders.0.position"
//   [k=v,...]   first element of an array whose members k (as text) equal v
//                                              "lines[device=cnt0,role=line].edges"
//   #           number of elements             "lines.#"
// A step starts after '.', or at '['. Each PATH prints one line: strings as they are,
// numbers exactly as parsed, true/false, null, arrays and objects as compact JSON.
// Exit 0; 1 if a PATH is not there (the others are still printed); 2 bad input or usage.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

using nlohmann::json;

std::string as_text(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

struct Step {
  enum class Kind { member, select, count } kind;
  std::string name;                                      // member (or index, if digits)
  std::vector<std::pair<std::string, std::string>> match;  // select
};

bool parse_path(const std::string& path, std::vector<Step>& steps) {
  std::size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '.') {
      ++i;
      continue;
    }
    if (path[i] == '[') {
      const std::size_t end = path.find(']', i);
      if (end == std::string::npos) return false;
      Step s{Step::Kind::select, {}, {}};
      std::string body = path.substr(i + 1, end - i - 1);
      std::size_t p = 0;
      while (p <= body.size()) {
        std::size_t comma = body.find(',', p);
        if (comma == std::string::npos) comma = body.size();
        const std::string kv = body.substr(p, comma - p);
        const std::size_t eq = kv.find('=');
        if (eq == std::string::npos) return false;
        s.match.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
        p = comma + 1;
      }
      steps.push_back(std::move(s));
      i = end + 1;
      continue;
    }
    std::size_t end = path.find_first_of(".[", i);
    if (end == std::string::npos) end = path.size();
    const std::string name = path.substr(i, end - i);
    steps.push_back(Step{name == "#" ? Step::Kind::count : Step::Kind::member, name, {}});
    i = end;
  }
  return true;
}

const json* walk(const json& root, const std::vector<Step>& steps, json& scratch) {
  const json* cur = &root;
  for (const Step& s : steps) {
    switch (s.kind) {
      case Step::Kind::count:
        if (!cur->is_array() && !cur->is_object()) return nullptr;
        scratch = cur->size();
        cur = &scratch;
        break;
      case Step::Kind::member:
        if (cur->is_object()) {
          const auto it = cur->find(s.name);
          if (it == cur->end()) return nullptr;
          cur = &*it;
        } else if (cur->is_array() && !s.name.empty() &&
                   s.name.find_first_not_of("0123456789") == std::string::npos) {
          const std::size_t index = std::stoul(s.name);
          if (index >= cur->size()) return nullptr;
          cur = &(*cur)[index];
        } else {
          return nullptr;
        }
        break;
      case Step::Kind::select: {
        if (!cur->is_array()) return nullptr;
        const json* found = nullptr;
        for (const json& e : *cur) {
          if (!e.is_object()) continue;
          bool all = true;
          for (const auto& [k, v] : s.match) {
            const auto it = e.find(k);
            if (it == e.end() || as_text(*it) != v) {
              all = false;
              break;
            }
          }
          if (all) {
            found = &e;
            break;
          }
        }
        if (!found) return nullptr;
        cur = found;
        break;
      }
    }
  }
  return cur;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> paths;
  std::string file;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-f" && i + 1 < argc) {
      file = argv[++i];
    } else if (a == "-h" || a == "--help") {
      std::fprintf(stderr, "usage: json_get [-f FILE] PATH...\n");
      return 2;
    } else {
      paths.push_back(a);
    }
  }
  if (paths.empty()) {
    std::fprintf(stderr, "usage: json_get [-f FILE] PATH...\n");
    return 2;
  }
  json doc;
  try {
    if (file.empty()) {
      doc = json::parse(std::cin);
    } else {
      std::ifstream in(file);
      if (!in) {
        std::fprintf(stderr, "json_get: cannot open %s\n", file.c_str());
        return 2;
      }
      doc = json::parse(in);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "json_get: not JSON: %s\n", e.what());
    return 2;
  }
  int rc = 0;
  for (const auto& path : paths) {
    std::vector<Step> steps;
    if (!parse_path(path, steps)) {
      std::fprintf(stderr, "json_get: bad path %s\n", path.c_str());
      return 2;
    }
    json scratch;
    const json* v = walk(doc, steps, scratch);
    if (!v) {
      std::fprintf(stderr, "json_get: %s: not found\n", path.c_str());
      std::cout << "\n";
      rc = 1;
      continue;
    }
    std::cout << as_text(*v) << "\n";
  }
  return rc;
}
