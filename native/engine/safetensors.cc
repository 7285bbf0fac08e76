#include "engine/safetensors.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace carclass {

namespace {

constexpr uint64_t kMaxHeader = 100u << 20;  // the spec's own limit

[[noreturn]] void Fail(const std::string& path, const std::string& why) {
  throw std::runtime_error("invalid safetensors file " + path + ": " + why);
}

// Minimal JSON reader for the header: objects, arrays, strings, integers.
struct Json {
  enum Kind { Null, String, Number, Array, Object } kind = Null;
  std::string str;
  int64_t num = 0;
  std::vector<Json> items;
  std::vector<std::pair<std::string, Json>> fields;
  const Json* Get(const std::string& k) const {
    for (const auto& f : fields)
      if (f.first == k) return &f.second;
    return nullptr;
  }
};

class Parser {
 public:
  Parser(const std::string& text, const std::string& path) : s_(text), path_(path) {}
  Json ParseDocument() {
    Json v = Value(0);
    Space();
    if (i_ != s_.size()) Error("trailing characters in header");
    return v;
  }

 private:
  [[noreturn]] void Error(const std::string& why) { Fail(path_, why + " at header byte " + std::to_string(i_)); }
  void Space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t')) ++i_;
  }
  char Peek() {
    Space();
    if (i_ >= s_.size()) Error("unexpected end of header");
    return s_[i_];
  }
  void Expect(char c) {
    if (Peek() != c) Error(std::string("expected '") + c + "'");
    ++i_;
  }
  std::string Str() {
    Expect('"');
    std::string out;
    while (true) {
      if (i_ >= s_.size()) Error("unterminated string");
      char c = s_[i_++];
      if (c == '"') break;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) Error("bad escape");
      char e = s_[i_++];
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'u': {
          if (i_ + 4 > s_.size()) Error("bad \\u escape");
          unsigned code = std::stoul(s_.substr(i_, 4), nullptr, 16);
          i_ += 4;
          if (code < 0x80) {
            out += static_cast<char>(code);
          } else if (code < 0x800) {
            out += static_cast<char>(0xC0 | (code >> 6));
            out += static_cast<char>(0x80 | (code & 0x3F));
          } else {
            out += static_cast<char>(0xE0 | (code >> 12));
            out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (code & 0x3F));
          }
          break;
        }
        default: out += e;
      }
    }
    return out;
  }
  Json Value(int depth) {
    if (depth > 8) Error("header nested too deeply");
    Json v;
    char c = Peek();
    if (c == '{') {
      v.kind = Json::Object;
      ++i_;
      if (Peek() == '}') {
        ++i_;
        return v;
      }
      while (true) {
        std::string key = Str();
        Expect(':');
        v.fields.emplace_back(key, Value(depth + 1));
        if (Peek() == ',') {
          ++i_;
          continue;
        }
        Expect('}');
        return v;
      }
    }
    if (c == '[') {
      v.kind = Json::Array;
      ++i_;
      if (Peek() == ']') {
        ++i_;
        return v;
      }
      while (true) {
        v.items.push_back(Value(depth + 1));
        if (Peek() == ',') {
          ++i_;
          continue;
        }
        Expect(']');
        return v;
      }
    }
    if (c == '"') {
      v.kind = Json::String;
      v.str = Str();
      return v;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      size_t start = i_++;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
      if (i_ - start > 18) Error("number too large");
      v.kind = Json::Number;
      v.num = std::stoll(s_.substr(start, i_ - start));
      return v;
    }
    Error("unexpected character");
  }
  const std::string& s_;
  const std::string& path_;
  size_t i_ = 0;
};

std::string TempPathFor(const std::string& path) {
  return path + ".tmp-" + std::to_string(::getpid());
}

void RenameInto(const std::string& tmp, const std::string& path) {
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw std::runtime_error("could not rename " + tmp + " to " + path + ": " + std::strerror(errno));
  }
}

}  // namespace

size_t DtypeSize(const std::string& dtype) {
  if (dtype == "F64" || dtype == "I64") return 8;
  if (dtype == "F32" || dtype == "I32") return 4;
  if (dtype == "F16" || dtype == "BF16") return 2;
  if (dtype == "U8" || dtype == "I8") return 1;
  return 0;
}

std::string JsonQuote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

void WriteFileAtomic(const std::string& path, const std::string& text) {
  const std::string tmp = TempPathFor(path);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("could not open " + tmp + " for writing: " + std::strerror(errno));
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    out.close();
    if (!out) throw std::runtime_error("could not write " + tmp + " (disk full?)");
  }
  RenameInto(tmp, path);
}

void WriteSafetensors(const std::string& path, const StFile& file) {
  std::string header = "{";
  if (!file.metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : file.metadata) {
      header += (first ? "" : ",") + JsonQuote(k) + ":" + JsonQuote(v);
      first = false;
    }
    header += "}";
  }
  uint64_t offset = 0;
  for (size_t i = 0; i < file.tensors.size(); ++i) {
    const StTensor& t = file.tensors[i];
    if (header.size() > 1) header += ",";
    header += JsonQuote(t.name) + ":{\"dtype\":" + JsonQuote(t.dtype) + ",\"shape\":[";
    for (size_t d = 0; d < t.shape.size(); ++d) header += (d ? "," : "") + std::to_string(t.shape[d]);
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + t.data.size()) + "]}";
    offset += t.data.size();
  }
  header += "}";
  while (header.size() % 8) header += ' ';  // the spec allows trailing spaces; keeps data aligned
  const std::string tmp = TempPathFor(path);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("could not open " + tmp + " for writing: " + std::strerror(errno));
    uint64_t n = header.size();
    unsigned char len[8];
    for (int b = 0; b < 8; ++b) len[b] = static_cast<unsigned char>(n >> (8 * b));
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    for (const auto& t : file.tensors) out.write(reinterpret_cast<const char*>(t.data.data()), static_cast<std::streamsize>(t.data.size()));
    out.close();
    if (!out) {
      std::remove(tmp.c_str());
      throw std::runtime_error("could not write " + tmp + " (disk full?)");
    }
  }
  RenameInto(tmp, path);
}

StFile ReadSafetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("could not open checkpoint " + path + ": " + std::strerror(errno));
  in.seekg(0, std::ios::end);
  const uint64_t size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  if (size < 8) Fail(path, "file is " + std::to_string(size) + " bytes, shorter than the 8-byte header length");
  unsigned char len[8];
  in.read(reinterpret_cast<char*>(len), 8);
  uint64_t n = 0;
  for (int b = 0; b < 8; ++b) n |= static_cast<uint64_t>(len[b]) << (8 * b);
  if (n > kMaxHeader || n + 8 > size) Fail(path, "header length " + std::to_string(n) + " exceeds the file size " + std::to_string(size));
  std::string header(n, '\0');
  in.read(&header[0], static_cast<std::streamsize>(n));
  Json root = Parser(header, path).ParseDocument();
  if (root.kind != Json::Object) Fail(path, "header is not a JSON object");
  const uint64_t dataSize = size - 8 - n;
  StFile file;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const auto& [name, v] : root.fields) {
    if (name == "__metadata__") {
      if (v.kind != Json::Object) Fail(path, "__metadata__ is not an object");
      for (const auto& [k, s] : v.fields) {
        if (s.kind != Json::String) Fail(path, "__metadata__." + k + " is not a string");
        file.metadata[k] = s.str;
      }
      continue;
    }
    const Json* dtype = v.Get("dtype");
    const Json* shape = v.Get("shape");
    const Json* offsets = v.Get("data_offsets");
    if (v.kind != Json::Object || !dtype || dtype->kind != Json::String || !shape || shape->kind != Json::Array || !offsets ||
        offsets->kind != Json::Array || offsets->items.size() != 2)
      Fail(path, "tensor '" + name + "' lacks dtype, shape or data_offsets");
    StTensor t;
    t.name = name;
    t.dtype = dtype->str;
    const size_t elem = DtypeSize(t.dtype);
    if (!elem) Fail(path, "tensor '" + name + "' has unsupported dtype " + t.dtype);
    uint64_t count = 1;
    for (const auto& d : shape->items) {
      if (d.kind != Json::Number || d.num < 0 || d.num > (int64_t(1) << 40)) Fail(path, "tensor '" + name + "' has a bad shape");
      t.shape.push_back(d.num);
      count *= static_cast<uint64_t>(d.num);
      if (count > (uint64_t(1) << 40)) Fail(path, "tensor '" + name + "' is too large");
    }
    const Json& a = offsets->items[0];
    const Json& b = offsets->items[1];
    if (a.kind != Json::Number || b.kind != Json::Number || a.num < 0 || b.num < a.num || static_cast<uint64_t>(b.num) > dataSize)
      Fail(path, "tensor '" + name + "' data_offsets [" + std::to_string(a.num) + ", " + std::to_string(b.num) +
                     "] fall outside the " + std::to_string(dataSize) + " data bytes (truncated file?)");
    if (static_cast<uint64_t>(b.num - a.num) != count * elem)
      Fail(path, "tensor '" + name + "' holds " + std::to_string(b.num - a.num) + " bytes but its shape needs " +
                     std::to_string(count * elem));
    ranges.emplace_back(a.num, b.num);
    t.data.resize(static_cast<size_t>(b.num - a.num));
    in.seekg(static_cast<std::streamoff>(8 + n + a.num));
    in.read(reinterpret_cast<char*>(t.data.data()), static_cast<std::streamsize>(t.data.size()));
    if (!in) Fail(path, "could not read the data of tensor '" + name + "'");
    file.tensors.push_back(std::move(t));
  }
  return file;
}

}  // namespace carclass
