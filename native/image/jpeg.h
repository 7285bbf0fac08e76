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

struct DecodeOptions {
  Dct dct = Dct::Fast;
  bool lenient = false;               // accept libjpeg warnings (truncated data, junk bytes)
  int64_t maxPixels = 50'000'000;     // checked from the header before any pixel allocation
};

struct RgbImage {
  int height = 0, width = 0;
  std::vector<uint8_t> pixels;  // height * width * 3
};

// Decodes into `out`, reusing its capacity (the loader keeps one per thread).
void DecodeJpeg(const uint8_t* data, size_t size, const DecodeOptions& options, RgbImage& out);
RgbImage DecodeJpeg(const uint8_t* data, size_t size, const DecodeOptions& options);

// Reads a whole file into `out`; throws ImageError FILE_NOT_FOUND / FILE_UNREADABLE / FILE_EMPTY.
void ReadFile(const std::string& path, std::vector<uint8_t>& out);
RgbImage DecodeJpegFile(const std::string& path, const DecodeOptions& options);

// Baseline JPEG, 4:2:0 subsampling, from packed RGB.
std::vector<uint8_t> EncodeJpeg(const uint8_t* rgb, int width, int height, int quality);

}  // namespace carclass::image
