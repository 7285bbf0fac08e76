#include "image/jpeg.h"

#include <turbojpeg.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <sys/stat.h>

namespace carclass::image {

namespace {

// One handle per thread and direction: tjInit* costs more than decoding a thumbnail. A handle is
// recreated after any failure (libjpeg's state is not reusable then).
struct Handle {
  tjhandle value = nullptr;
  ~Handle() { Reset(); }
  void Reset() {
    if (value) tjDestroy(value);
    value = nullptr;
  }
};

// TurboJPEG remembers the stop-on-warning flag in the handle (it also applies to header reads),
// so strict and lenient decoding keep separate handles to behave the same on every thread.
Handle& DecompressorSlot(bool lenient) {
  thread_local Handle strict, tolerant;
  return lenient ? tolerant : strict;
}

tjhandle Decompressor(bool lenient) {
  Handle& handle = DecompressorSlot(lenient);
  if (!handle.value) handle.value = tjInitDecompress();
  if (!handle.value) throw ImageError("JPEG_CORRUPT", "could not initialise TurboJPEG");
  return handle.value;
}

tjhandle Compressor() {
  thread_local Handle handle;
  if (!handle.value) handle.value = tjInitCompress();
  if (!handle.value) throw ImageError("JPEG_CORRUPT", "could not initialise TurboJPEG");
  return handle.value;
}

bool Contains(const std::string& text, const char* part) { return text.find(part) != std::string::npos; }

[[noreturn]] void ThrowLibjpegError(bool lenient, const char* stage) {
  Handle& handle = DecompressorSlot(lenient);
  std::string message = tjGetErrorStr2(handle.value);
  handle.Reset();
  // TurboJPEG prefixes its own function name; keep only libjpeg's text.
  if (auto colon = message.find("(): "); colon != std::string::npos) message = message.substr(colon + 4);
  if (Contains(message, "precision")) {
    throw ImageError("JPEG_UNSUPPORTED", "unsupported JPEG sample precision (only 8-bit JPEG is supported): " + message);
  }
  if (Contains(message, "Premature end") || Contains(message, "insufficient data")) {
    throw ImageError("JPEG_TRUNCATED", std::string("truncated JPEG data while ") + stage + ": " + message);
  }
  if (Contains(message, "subsampling") || Contains(message, "Unsupported color")) {
    throw ImageError("JPEG_UNSUPPORTED", std::string("unsupported JPEG while ") + stage + ": " + message);
  }
  throw ImageError("JPEG_CORRUPT", std::string("corrupt JPEG data while ") + stage + ": " + message);
}

// Adobe APP14 marks inverted CMYK (what Photoshop writes); Pillow uses the same rule.
bool HasAdobeMarker(const uint8_t* data, size_t size) {
  size_t pos = 2;
  while (pos + 4 <= size) {
    if (data[pos] != 0xFF) return false;
    uint8_t marker = data[pos + 1];
    if (marker == 0xFF) { ++pos; continue; }
    if (marker == 0xDA || marker == 0xD9) return false;  // start of scan / end of image
    size_t length = (size_t(data[pos + 2]) << 8) | data[pos + 3];
    if (marker == 0xEE && length >= 7 && pos + 4 + 5 <= size && std::memcmp(data + pos + 4, "Adobe", 5) == 0) return true;
    pos += 2 + length;
  }
  return false;
}

// Pillow's cmyk2rgb with MULDIV255 rounding; `inverted` values have 255 = no ink.
void CmykToRgb(const uint8_t* cmyk, size_t pixels, bool inverted, uint8_t* rgb) {
  for (size_t i = 0; i < pixels; ++i) {
    const uint8_t* p = cmyk + 4 * i;
    unsigned k = inverted ? p[3] : 255u - p[3];
    for (int c = 0; c < 3; ++c) {
      unsigned v = inverted ? p[c] : 255u - p[c];
      unsigned t = v * k + 128;
      rgb[3 * i + c] = uint8_t((t + (t >> 8)) >> 8);
    }
  }
}

}  // namespace

void DecodeJpeg(const uint8_t* data, size_t size, const DecodeOptions& options, RgbImage& out) {
  if (size == 0) throw ImageError("FILE_EMPTY", "empty input (0 bytes)");
  if (size < 3 || data[0] != 0xFF || data[1] != 0xD8) throw ImageError("NOT_JPEG", "not a JPEG file (missing SOI marker)");
  tjhandle handle = Decompressor(options.lenient);
  int width = 0, height = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(handle, data, static_cast<unsigned long>(size), &width, &height, &subsamp, &colorspace) != 0) {
    // A warning (stray bytes before a marker) still yields the header; lenient mode accepts it.
    const bool warningOnly = tjGetErrorCode(handle) == TJERR_WARNING;
    if (!(warningOnly && options.lenient)) ThrowLibjpegError(options.lenient, "reading the header");
  }
  if (width <= 0 || height <= 0) throw ImageError("JPEG_CORRUPT", "JPEG header has zero width or height");
  const int64_t pixels = int64_t(width) * height;
  if (pixels > options.maxPixels) {
    throw ImageError("JPEG_TOO_LARGE", std::to_string(width) + "x" + std::to_string(height) + " = " + std::to_string(pixels) +
                                           " pixels exceeds maxPixels " + std::to_string(options.maxPixels));
  }
  int flags = options.dct == Dct::Fast ? TJFLAG_FASTDCT : TJFLAG_ACCURATEDCT;
  if (!options.lenient) flags |= TJFLAG_STOPONWARNING;
  const bool cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
  out.width = width;
  out.height = height;
  out.pixels.resize(size_t(pixels) * 3);
  std::vector<uint8_t> cmykPixels;
  uint8_t* target = out.pixels.data();
  if (cmyk) {
    cmykPixels.resize(size_t(pixels) * 4);
    target = cmykPixels.data();
  }
  if (tjDecompress2(handle, data, static_cast<unsigned long>(size), target, width, 0, height, cmyk ? TJPF_CMYK : TJPF_RGB,
                    flags) != 0) {
    const bool warningOnly = tjGetErrorCode(handle) == TJERR_WARNING;
    if (!(warningOnly && options.lenient)) ThrowLibjpegError(options.lenient, "decoding");
  }
  if (cmyk) CmykToRgb(cmykPixels.data(), size_t(pixels), HasAdobeMarker(data, size), out.pixels.data());
}

RgbImage DecodeJpeg(const uint8_t* data, size_t size, const DecodeOptions& options) {
  RgbImage image;
  DecodeJpeg(data, size, options, image);
  return image;
}

void ReadFile(const std::string& path, std::vector<uint8_t>& out) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) {
    int err = errno;
    throw ImageError(err == ENOENT ? "FILE_NOT_FOUND" : "FILE_UNREADABLE", std::strerror(err));
  }
  struct stat info {};
  if (fstat(fileno(file.get()), &info) != 0 || !S_ISREG(info.st_mode)) throw ImageError("FILE_UNREADABLE", "not a regular file");
  if (info.st_size == 0) throw ImageError("FILE_EMPTY", "empty file (0 bytes)");
  out.resize(size_t(info.st_size));
  size_t got = std::fread(out.data(), 1, out.size(), file.get());
  if (got != out.size()) throw ImageError("FILE_UNREADABLE", "short read: " + std::to_string(got) + " of " + std::to_string(out.size()) + " bytes");
}

RgbImage DecodeJpegFile(const std::string& path, const DecodeOptions& options) {
  std::vector<uint8_t> bytes;
  ReadFile(path, bytes);
  return DecodeJpeg(bytes.data(), bytes.size(), options);
}

std::vector<uint8_t> EncodeJpeg(const uint8_t* rgb, int width, int height, int quality) {
  if (width <= 0 || height <= 0) throw ImageError("INVALID_ARGUMENT", "width and height must be positive");
  if (quality < 1 || quality > 100) throw ImageError("INVALID_ARGUMENT", "quality must be in 1..100");
  tjhandle handle = Compressor();
  unsigned char* jpeg = nullptr;
  unsigned long jpegSize = 0;
  if (tjCompress2(handle, rgb, width, 0, height, TJPF_RGB, &jpeg, &jpegSize, TJSAMP_420, quality, 0) != 0) {
    std::string message = tjGetErrorStr2(handle);
    if (jpeg) tjFree(jpeg);
    throw ImageError("JPEG_CORRUPT", "encoding failed: " + message);
  }
  std::vector<uint8_t> result(jpeg, jpeg + jpegSize);
  tjFree(jpeg);
  return result;
}

}  // namespace carclass::image
