#include "image/decode.h"

#include "image/bmp.h"
#include "image/png.h"

namespace carclass::image {

ImageFormat DetectFormat(const uint8_t* data, size_t size) {
  if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8) return ImageFormat::Jpeg;
  if (IsPng(data, size)) return ImageFormat::Png;
  if (IsBmp(data, size)) return ImageFormat::Bmp;
  return ImageFormat::Unknown;
}

namespace {

[[noreturn]] void RejectUnknown(size_t size) {
  if (size == 0) throw ImageError("FILE_EMPTY", "empty input (0 bytes)");
  // The code stays NOT_JPEG: callers and reports written before PNG support match on it.
  throw ImageError("NOT_JPEG", "not a JPEG, PNG or BMP file (no JPEG SOI marker, PNG signature or BM at the start)");
}

}  // namespace

void DecodeImageBytes(const uint8_t* data, size_t size, const DecodeOptions& options, RgbImage& out) {
  switch (DetectFormat(data, size)) {
    case ImageFormat::Jpeg: return DecodeJpeg(data, size, options, out);
    case ImageFormat::Png: return DecodePng(data, size, options, out);
    case ImageFormat::Bmp: return DecodeBmp(data, size, options, out);
    default: RejectUnknown(size);
  }
}

RgbImage DecodeImageBytes(const uint8_t* data, size_t size, const DecodeOptions& options) {
  RgbImage out;
  DecodeImageBytes(data, size, options, out);
  return out;
}

void DecodeImageBytesCenterRows(const uint8_t* data, size_t size, const DecodeOptions& options, int maxRows, RgbImage& out) {
  switch (DetectFormat(data, size)) {
    case ImageFormat::Jpeg: return DecodeJpegCenterRows(data, size, options, maxRows, out);
    case ImageFormat::Png: return DecodePng(data, size, options, out);
    case ImageFormat::Bmp: return DecodeBmp(data, size, options, out);
    default: RejectUnknown(size);
  }
}

}  // namespace carclass::image
