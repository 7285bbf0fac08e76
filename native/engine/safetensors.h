// safetensors read/write (https://github.com/huggingface/safetensors): 8-byte little-endian header
// length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}, raw data.
// Plain C++ (no LibTorch) so it compiles fast and can be fuzzed alone.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace carclass {

struct StTensor {
  std::string name;
  std::string dtype;  // F32, F64, I64, I32, U8
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;  // little-endian raw bytes
};

struct StFile {
  std::vector<StTensor> tensors;  // in file order
  std::map<std::string, std::string> metadata;
};

size_t DtypeSize(const std::string& dtype);  // 0 when unknown
// Writes `path` through a temporary file in the same folder and renames it into place.
void WriteSafetensors(const std::string& path, const StFile& file);
// Reads and validates the whole file; errors name the file and the reason.
StFile ReadSafetensors(const std::string& path);
// Writes text to a temporary file in the same folder, then renames it into place.
void WriteFileAtomic(const std::string& path, const std::string& text);
// JSON string literal with escapes (used by the header writer and by callers building metadata).
std::string JsonQuote(const std::string& s);

}  // namespace carclass
