// JPEG decode/encode with TurboJPEG, following tf.io.decode_jpeg (fancy upsampling, no scaling,
// EXIF orientation ignored). Output is always packed RGB uint8.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "image/image_error.h"

namespace carclass::image {

enum class Dct { Fast, Accurate };

constexpr int64_t kDefaultMaxFileBytes = int64_t(64) << 20;

struct DecodeOptions {
  Dct dct = Dct::Fast;
  bool lenient = false;               // accept libjpeg warnings (truncated data, junk bytes); fatal errors still fail
  int64_t maxPixels = 50'000'000;     // checked from the header before any pixel allocation
  int64_t maxFileBytes = kDefaultMaxFileBytes;  // ReadFile's cap, checked with fstat before reading
};

// Decoded RGB rows. Rows are padded so that each one starts 16 bytes past a 32-byte boundary:
// libjpeg-turbo's AVX2 colour conversion switches to non-temporal stores for 32-byte aligned
// output, which pushes the rows out to memory just before the loader reads them back
// (about 15 % of the loader's time per image; scripts/bench/decode/README.md).
class RgbImage {
 public:
  int height = 0, width = 0;

  // Sizes the rows for height x width, reusing the buffer's capacity; contents are unspecified.
  void Allocate(int rows, int columns);
  uint8_t* Row(int y) { return storage_.data() + first_ + stride_ * size_t(y); }
  const uint8_t* Row(int y) const { return storage_.data() + first_ + stride_ * size_t(y); }
  size_t Stride() const { return stride_; }
  // A tightly packed copy (height * width * 3 bytes).
  std::vector<uint8_t> Packed() const;

 private:
  std::vector<uint8_t> storage_;
  size_t first_ = 0, stride_ = 0;
};

// Decodes into `out`, reusing its capacity (the loader keeps one per thread).
void DecodeJpeg(const uint8_t* data, size_t size, const DecodeOptions& options, RgbImage& out);
RgbImage DecodeJpeg(const uint8_t* data, size_t size, const DecodeOptions& options);

// Same image DecodeJpeg gives, but when it is taller than `maxRows` only its central `maxRows` rows
// (crop_or_pad's row crop: offset (height - maxRows) / 2) are kept, and only those are IDCT'd,
// upsampled and colour-converted (the rest is still entropy-decoded, so corrupt or truncated data
// is detected as before). Anything unusual (CMYK, warnings, errors) goes through DecodeJpeg itself,
// so errors and lenient results are the same.
void DecodeJpegCenterRows(const uint8_t* data, size_t size, const DecodeOptions& options, int maxRows, RgbImage& out);

// Reads a whole regular file into `out`; throws ImageError FILE_NOT_FOUND / FILE_UNREADABLE /
// FILE_EMPTY / FILE_TOO_LARGE. The file is opened non-blocking and checked with fstat before any
// read, so a FIFO or device is refused ("not a regular file") instead of blocking.
void ReadFile(const std::string& path, std::vector<uint8_t>& out, int64_t maxFileBytes = kDefaultMaxFileBytes);
RgbImage DecodeJpegFile(const std::string& path, const DecodeOptions& options);

// Baseline JPEG, 4:2:0 subsampling, from packed RGB.
std::vector<uint8_t> EncodeJpeg(const uint8_t* rgb, int width, int height, int quality);

}  // namespace carclass::image
