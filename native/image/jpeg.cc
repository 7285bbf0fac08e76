#include "image/jpeg.h"

#include <turbojpeg.h>

#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>  // after <cstdio>: it needs FILE

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

[[noreturn]] void ThrowClassified(const std::string& message, const char* stage) {
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

std::string TurboJpegMessage(tjhandle handle) {
  std::string message = tjGetErrorStr2(handle);
  // TurboJPEG prefixes its own function name; keep only libjpeg's text.
  if (auto colon = message.find("(): "); colon != std::string::npos) message = message.substr(colon + 4);
  return message;
}

[[noreturn]] void ThrowLibjpegError(bool lenient, const char* stage) {
  Handle& handle = DecompressorSlot(lenient);
  std::string message = TurboJpegMessage(handle.value);
  handle.Reset();
  ThrowClassified(message, stage);
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

// A libjpeg decompressor whose errors jump back to the caller with libjpeg's message. A fatal
// error always jumps; a warning jumps unless `lenient`. The row-cropping path (TurboJPEG 2.1 cannot
// skip rows) keeps it strict and hands any failure to the TurboJPEG path; the whole-image path uses
// it to tell a fatal error from a warning, which TurboJPEG cannot.
struct LibjpegDecoder {
  struct Errors {
    jpeg_error_mgr manager;
    std::jmp_buf jump;
    bool lenient = false;
    char message[JMSG_LENGTH_MAX] = {0};
  };
  jpeg_decompress_struct info{};
  Errors errors{};
  std::vector<JSAMPROW> rows;
  std::vector<uint8_t> scratch;  // the row path's discarded last row; the whole path's CMYK rows
  LibjpegDecoder() {
    info.err = jpeg_std_error(&errors.manager);
    errors.manager.error_exit = [](j_common_ptr c) {
      Errors* e = reinterpret_cast<Errors*>(c->err);
      (*c->err->format_message)(c, e->message);
      std::longjmp(e->jump, 1);
    };
    errors.manager.emit_message = [](j_common_ptr c, int level) {
      if (level >= 0) return;
      Errors* e = reinterpret_cast<Errors*>(c->err);
      c->err->num_warnings++;
      if (e->lenient) return;
      (*c->err->format_message)(c, e->message);
      std::longjmp(e->jump, 1);
    };
    errors.manager.output_message = [](j_common_ptr) {};
    jpeg_create_decompress(&info);
  }
  // libjpeg keeps tables across images on one decompressor: start an image on a fresh one, so an
  // abbreviated file never borrows an earlier image's tables.
  void Fresh() {
    jpeg_destroy_decompress(&info);
    info = jpeg_decompress_struct{};
    info.err = &errors.manager;
    jpeg_create_decompress(&info);
  }
  ~LibjpegDecoder() { jpeg_destroy_decompress(&info); }
};

// libjpeg keeps quantisation and Huffman tables across images on a reused decompressor (for
// abbreviated streams), so an image that uses a table it does not define would decode with the
// previous image's. True when the image is one sequential Huffman scan over all components whose
// tables are all defined before it: then a reused handle gives what a fresh one gives.
bool SelfContainedSingleScan(const uint8_t* data, size_t size) {
  unsigned quant = 0, dc = 0, ac = 0;  // bit n: table n defined
  int componentIds[4] = {-1, -1, -1, -1}, componentQuant[4] = {0, 0, 0, 0}, components = 0;
  size_t pos = 2;
  while (pos + 4 <= size) {
    if (data[pos] != 0xFF) return false;
    const uint8_t marker = data[pos + 1];
    if (marker == 0xFF) { ++pos; continue; }
    const size_t length = (size_t(data[pos + 2]) << 8) | data[pos + 3];
    if (length < 2 || pos + 2 + length > size) return false;
    const uint8_t* segment = data + pos + 4;
    const size_t bytes = length - 2;
    if (marker == 0xDB) {
      for (size_t at = 0; at < bytes;) {
        quant |= 1u << (segment[at] & 0x0F);
        at += 1 + ((segment[at] >> 4) ? 128 : 64);
      }
    } else if (marker == 0xC4) {
      for (size_t at = 0; at + 17 <= bytes;) {
        size_t values = 0;
        for (int i = 1; i <= 16; ++i) values += segment[at + i];
        ((segment[at] >> 4) ? ac : dc) |= 1u << (segment[at] & 0x0F);
        at += 17 + values;
      }
    } else if (marker == 0xC0 || marker == 0xC1) {  // baseline / extended sequential Huffman
      if (components || bytes < 6) return false;
      components = segment[5];
      if (components < 1 || components > 4 || bytes < 6 + 3 * size_t(components)) return false;
      for (int c = 0; c < components; ++c) {
        componentIds[c] = segment[6 + 3 * c];
        componentQuant[c] = segment[8 + 3 * c] & 0x0F;
      }
    } else if (marker >= 0xC2 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) {
      return false;  // progressive, lossless or arithmetic
    } else if (marker == 0xDA) {
      if (!components || bytes < 1 || segment[0] != components || bytes < 1 + 2 * size_t(components)) return false;
      for (int c = 0; c < components; ++c) {
        if (!(quant >> componentQuant[c] & 1)) return false;
        const int id = segment[1 + 2 * c], selectors = segment[2 + 2 * c];
        if (id != componentIds[c] || !(dc >> (selectors >> 4) & 1) || !(ac >> (selectors & 0x0F) & 1)) return false;
      }
      return true;
    }
    pos += 2 + length;
  }
  return false;
}

// Skips exactly `count` scanlines (jpeg_skip_scanlines may stop early at iMCU boundaries).
void SkipRows(jpeg_decompress_struct& info, JDIMENSION count) {
  while (count > 0) {
    JDIMENSION skipped = jpeg_skip_scanlines(&info, count);
    if (skipped == 0) std::longjmp(reinterpret_cast<LibjpegDecoder::Errors*>(info.err)->jump, 1);
    count -= skipped;
  }
}

// Returns false (decoder reset, `out` unspecified) when the TurboJPEG path must decide instead:
// single-scan Huffman-coded images only (progressive and arithmetic ones gain little from skipping).
// No C++ object with a destructor lives between setjmp and a longjmp.
bool DecodeCenterRowsWithLibjpeg(const uint8_t* data, size_t size, const DecodeOptions& options, int maxRows, RgbImage& out) {
  thread_local LibjpegDecoder decoder;  // strict: any warning hands the file to the TurboJPEG path
  jpeg_decompress_struct& info = decoder.info;
  if (setjmp(decoder.errors.jump)) {
    jpeg_abort_decompress(&info);
    return false;
  }
  jpeg_mem_src(&info, data, static_cast<unsigned long>(size));
  bool usable = SelfContainedSingleScan(data, size) && jpeg_read_header(&info, TRUE) == JPEG_HEADER_OK &&
                !info.progressive_mode && !info.arith_code && info.comps_in_scan == info.num_components &&
                info.jpeg_color_space != JCS_CMYK && info.jpeg_color_space != JCS_YCCK && info.image_width > 0 &&
                int(info.image_height) > maxRows && int64_t(info.image_width) * info.image_height <= options.maxPixels;
  if (!usable) {
    jpeg_abort_decompress(&info);
    return false;
  }
  // What tjDecompress2 sets for TJPF_RGB and the DCT flags; fancy upsampling stays on.
  info.out_color_space = JCS_EXT_RGB;
  info.dct_method = options.dct == Dct::Fast ? JDCT_IFAST : JDCT_ISLOW;
  const JDIMENSION width = info.image_width, height = info.image_height, first = (height - JDIMENSION(maxRows)) / 2;
  const size_t rowBytes = size_t(width) * 3;
  out.Allocate(maxRows, int(width));
  decoder.rows.resize(size_t(maxRows));
  decoder.scratch.resize(rowBytes);
  for (int y = 0; y < maxRows; ++y) decoder.rows[size_t(y)] = out.Row(y);
  jpeg_start_decompress(&info);
  SkipRows(info, first);
  while (info.output_scanline < first + JDIMENSION(maxRows)) {
    const JDIMENSION done = info.output_scanline - first;
    if (jpeg_read_scanlines(&info, decoder.rows.data() + done, JDIMENSION(maxRows) - done) == 0) {
      jpeg_abort_decompress(&info);
      return false;
    }
  }
  // Skipping to the very end would not read the remaining entropy data: skip all but the last
  // row and decode that one, so damage below the crop is still found.
  SkipRows(info, height - info.output_scanline - 1);
  JSAMPROW last = decoder.scratch.data();
  while (info.output_scanline < height) {
    if (jpeg_read_scanlines(&info, &last, 1) == 0) {
      jpeg_abort_decompress(&info);
      return false;
    }
  }
  jpeg_finish_decompress(&info);
  return true;
}


// Whole-image decode through the libjpeg API, with the same settings tjDecompress2 uses (fancy
// upsampling, RGB or CMYK output, no scaling). It is the authority when TurboJPEG cannot tell a
// fatal error from a warning (its error code stays TJERR_WARNING once any warning was emitted, even
// when libjpeg then failed) and when tjDecompressHeader3 cannot classify the subsampling (4x2, 3x1,
// 1x3 luma). A fatal error always fails; a warning fails unless lenient.
// True on success; else `errors.message` (or `tooLarge`) says why and `stage` names where it failed.
// No C++ object with a destructor lives between setjmp and a longjmp.
bool DecodeWholeWithLibjpegImpl(LibjpegDecoder& decoder, const uint8_t* data, size_t size, const DecodeOptions& options, RgbImage& out,
                                const char*& stage, bool& tooLarge) {
  jpeg_decompress_struct& info = decoder.info;
  decoder.errors.lenient = options.lenient;
  decoder.errors.message[0] = 0;
  stage = "reading the header";
  tooLarge = false;
  if (setjmp(decoder.errors.jump)) {
    jpeg_abort_decompress(&info);
    return false;
  }
  jpeg_mem_src(&info, data, static_cast<unsigned long>(size));
  jpeg_read_header(&info, TRUE);
  if (info.image_width == 0 || info.image_height == 0 || int64_t(info.image_width) * info.image_height > options.maxPixels) {
    tooLarge = true;
    jpeg_abort_decompress(&info);
    return false;
  }
  stage = "decoding";
  const bool cmyk = info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK;
  info.out_color_space = cmyk ? JCS_CMYK : JCS_EXT_RGB;
  info.dct_method = options.dct == Dct::Fast ? JDCT_IFAST : JDCT_ISLOW;
  const JDIMENSION width = info.image_width, height = info.image_height;
  out.Allocate(int(height), int(width));
  decoder.rows.resize(height);
  if (cmyk) {
    decoder.scratch.resize(size_t(width) * height * 4);
    for (JDIMENSION y = 0; y < height; ++y) decoder.rows[y] = decoder.scratch.data() + size_t(y) * width * 4;
  } else {
    for (JDIMENSION y = 0; y < height; ++y) decoder.rows[y] = out.Row(int(y));
  }
  jpeg_start_decompress(&info);
  while (info.output_scanline < height) {
    if (jpeg_read_scanlines(&info, decoder.rows.data() + info.output_scanline, height - info.output_scanline) == 0) {
      std::longjmp(decoder.errors.jump, 1);
    }
  }
  jpeg_finish_decompress(&info);
  if (cmyk) {
    const bool inverted = HasAdobeMarker(data, size);
    for (JDIMENSION y = 0; y < height; ++y) CmykToRgb(decoder.rows[y], size_t(width), inverted, out.Row(int(y)));
  }
  return true;
}

void DecodeWholeWithLibjpeg(const uint8_t* data, size_t size, const DecodeOptions& options, RgbImage& out) {
  thread_local LibjpegDecoder decoder;
  decoder.Fresh();
  const char* stage = "";
  bool tooLarge = false;
  if (DecodeWholeWithLibjpegImpl(decoder, data, size, options, out, stage, tooLarge)) return;
  out.height = out.width = 0;
  if (tooLarge) {
    const int64_t width = decoder.info.image_width, height = decoder.info.image_height;
    if (width == 0 || height == 0) throw ImageError("JPEG_CORRUPT", "JPEG header has zero width or height");
    throw ImageError("JPEG_TOO_LARGE", std::to_string(width) + "x" + std::to_string(height) + " = " + std::to_string(width * height) +
                                           " pixels exceeds maxPixels " + std::to_string(options.maxPixels));
  }
  std::string message = decoder.errors.message[0] ? decoder.errors.message : "decode stopped early";
  ThrowClassified(message, stage);
}

}  // namespace

void RgbImage::Allocate(int rows, int columns) {
  height = rows;
  width = columns;
  // Stride a multiple of 32 and the first row at 16 mod 32: no row is 32-byte aligned.
  stride_ = (size_t(columns) * 3 + 31) / 32 * 32;
  const size_t needed = stride_ * size_t(rows) + 32;
  // Kept across images (no refill when sizes alternate), except that one huge photo must not pin
  // its buffer in every loader thread for the rest of the run.
  constexpr size_t kKeepBytes = size_t(32) << 20;
  if (storage_.capacity() > kKeepBytes && needed < storage_.capacity() / 4) std::vector<uint8_t>().swap(storage_);
  if (storage_.size() < needed) storage_.resize(needed);
  const size_t misalignment = reinterpret_cast<uintptr_t>(storage_.data()) % 32;
  first_ = (16 + 32 - misalignment) % 32;
}

std::vector<uint8_t> RgbImage::Packed() const {
  const size_t rowBytes = size_t(width) * 3;
  std::vector<uint8_t> packed(rowBytes * size_t(height));
  for (int y = 0; y < height; ++y) std::memcpy(packed.data() + rowBytes * size_t(y), Row(y), rowBytes);
  return packed;
}

void DecodeJpegCenterRows(const uint8_t* data, size_t size, const DecodeOptions& options, int maxRows, RgbImage& out) {
  if (maxRows > 0 && size >= 3 && data[0] == 0xFF && data[1] == 0xD8 &&
      DecodeCenterRowsWithLibjpeg(data, size, options, maxRows, out)) {
    return;
  }
  DecodeJpeg(data, size, options, out);
}

namespace {

void DecodeJpegImpl(const uint8_t* data, size_t size, const DecodeOptions& options, RgbImage& out) {
  if (size == 0) throw ImageError("FILE_EMPTY", "empty input (0 bytes)");
  if (size < 3 || data[0] != 0xFF || data[1] != 0xD8) throw ImageError("NOT_JPEG", "not a JPEG file (missing SOI marker)");
  // A file that may rely on tables from an earlier image gets a fresh handle (no history).
  if (!SelfContainedSingleScan(data, size)) DecompressorSlot(options.lenient).Reset();
  tjhandle handle = Decompressor(options.lenient);
  int width = 0, height = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(handle, data, static_cast<unsigned long>(size), &width, &height, &subsamp, &colorspace) != 0) {
    const bool warningOnly = tjGetErrorCode(handle) == TJERR_WARNING;
    const std::string message = TurboJpegMessage(handle);
    // TurboJPEG only knows the standard subsamplings; libjpeg (and djpeg) decode the others.
    // In lenient mode a warning may hide a later fatal error (TurboJPEG's code stays
    // TJERR_WARNING): libjpeg decides, telling the two apart.
    if (Contains(message, "Could not determine subsampling") || (warningOnly && options.lenient)) {
      DecompressorSlot(options.lenient).Reset();
      DecodeWholeWithLibjpeg(data, size, options, out);
      return;
    }
    ThrowLibjpegError(options.lenient, "reading the header");
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
  out.Allocate(height, width);
  std::vector<uint8_t> cmykPixels;
  uint8_t* target = out.Row(0);
  int pitch = int(out.Stride());
  if (cmyk) {
    cmykPixels.resize(size_t(pixels) * 4);
    target = cmykPixels.data();
    pitch = 0;  // packed
  }
  if (tjDecompress2(handle, data, static_cast<unsigned long>(size), target, width, pitch, height, cmyk ? TJPF_CMYK : TJPF_RGB,
                    flags) != 0) {
    const bool warningOnly = tjGetErrorCode(handle) == TJERR_WARNING;
    if (!(warningOnly && options.lenient)) ThrowLibjpegError(options.lenient, "decoding");
    // A warning, and perhaps a fatal error after it: TurboJPEG cannot say which, so libjpeg
    // decodes again and decides (warnings are rare; this costs one more decode then).
    DecompressorSlot(options.lenient).Reset();
    DecodeWholeWithLibjpeg(data, size, options, out);
    return;
  }
  if (cmyk) {
    const bool inverted = HasAdobeMarker(data, size);
    for (int y = 0; y < height; ++y) CmykToRgb(cmykPixels.data() + size_t(y) * width * 4, size_t(width), inverted, out.Row(y));
  }
}

}  // namespace

void DecodeJpeg(const uint8_t* data, size_t size, const DecodeOptions& options, RgbImage& out) {
  try {
    DecodeJpegImpl(data, size, options, out);
  } catch (...) {
    out.height = out.width = 0;  // a reused buffer never passes for a decoded image
    throw;
  }
}

RgbImage DecodeJpeg(const uint8_t* data, size_t size, const DecodeOptions& options) {
  RgbImage image;
  DecodeJpeg(data, size, options, image);
  return image;
}

void ReadFile(const std::string& path, std::vector<uint8_t>& out, int64_t maxFileBytes) {
  // O_NONBLOCK: opening a FIFO without a writer (or some devices) would otherwise block forever.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    int err = errno;
    throw ImageError(err == ENOENT ? "FILE_NOT_FOUND" : "FILE_UNREADABLE", std::strerror(err));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat info {};
  if (fstat(fd, &info) != 0) throw ImageError("FILE_UNREADABLE", std::string("fstat failed: ") + std::strerror(errno));
  if (!S_ISREG(info.st_mode)) {
    const char* kind = S_ISFIFO(info.st_mode) ? "FIFO" : S_ISCHR(info.st_mode) ? "character device"
                       : S_ISBLK(info.st_mode) ? "block device" : S_ISDIR(info.st_mode) ? "directory"
                       : S_ISSOCK(info.st_mode) ? "socket" : "special file";
    throw ImageError("FILE_UNREADABLE", std::string("not a regular file (") + kind + ")");
  }
  if (info.st_size == 0) throw ImageError("FILE_EMPTY", "empty file (0 bytes)");
  if (int64_t(info.st_size) > maxFileBytes) {
    throw ImageError("FILE_TOO_LARGE", "file is " + std::to_string(int64_t(info.st_size)) + " bytes, over maxFileBytes " +
                                           std::to_string(maxFileBytes));
  }
  // O_NONBLOCK stays set: it has no effect on reads of a regular file.
  out.resize(size_t(info.st_size));
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw ImageError("FILE_UNREADABLE", std::string("read failed: ") + std::strerror(errno));
    if (n == 0) break;
    got += size_t(n);
  }
  if (got != out.size()) throw ImageError("FILE_UNREADABLE", "short read: " + std::to_string(got) + " of " + std::to_string(out.size()) + " bytes");
}

RgbImage DecodeJpegFile(const std::string& path, const DecodeOptions& options) {
  std::vector<uint8_t> bytes;
  ReadFile(path, bytes, options.maxFileBytes);
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
