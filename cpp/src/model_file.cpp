#include "model_file.h"


#include <algorithm>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "archive_check.h"
#include "regular_file.h"
#include "tsrt/error.h"
#include "tsrt/libraries.h"

namespace tsrt::detail {
namespace {

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

bool contains(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

}  // namespace

ModelFile identify_model_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw Error(ErrorCode::kIO, "model file '" + path + "' does not exist");
  }
  if (std::filesystem::is_directory(path, ec)) {
    throw Error(ErrorCode::kIO, "model file '" + path + "' is a directory, not a file");
  }
  // A FIFO, socket or device is refused here, before anything reads from it.
  const int fd = open_regular_file(path, "model file");
  std::string head(8, '\0');
  const ssize_t got = ::pread(fd, head.data(), head.size(), 0);
  ::close(fd);
  head.resize(got > 0 ? static_cast<size_t>(got) : 0);

  if (head.empty()) throw Error(ErrorCode::kInvalidModel, "model file '" + path + "' is empty");
  if (!starts_with(head, "PK\x03\x04")) {
    std::string hint = "TorchScript files are zip archives written by torch.jit.save (or tsrt export)";
    if (static_cast<unsigned char>(head[0]) == 0x80) {
      hint = "it looks like a pickle written by torch.save(model); TorchScript needs torch.jit.save(torch.jit.script(model)) — or use tsrt export";
    } else if (static_cast<unsigned char>(head[0]) == 0x08) {
      hint = "it may be an ONNX file; tsrt runs TorchScript files: export the PyTorch model with tsrt export";
    }
    throw Error(ErrorCode::kInvalidModel, "model file '" + path + "' is not a model archive: " + hint);
  }

  // Structure, bounds and checksums first: LibTorch's reader trusts them.
  // Records live under one top-level folder named after the archive.
  auto record_of = [](const std::string& name) {
    const size_t slash = name.find('/');
    return slash == std::string::npos ? name : name.substr(slash + 1);
  };
  // Tensor storages: data/N for parameters and buffers, constants/N for the weights
  // of a frozen module (every tsrt export). Their CRCs are checked beside the load.
  auto is_storage = [&](const std::string& name) {
    const std::string record = record_of(name);
    return starts_with(record, "data/") || starts_with(record, "constants/");
  };
  ModelFile model_file;
  std::vector<std::string> records;
  model_file.entries = check_archive(path, is_storage);
  for (ArchiveEntry entry : model_file.entries) {
    records.push_back(record_of(entry.name));
    if (starts_with(records.back(), "extra/")) {
      model_file.extra_files.push_back(records.back().substr(6));
      model_file.extra_entries.push_back(entry);
    }
    if (is_storage(entry.name)) model_file.unchecked_storages.push_back(std::move(entry));
  }
  bool has_code = false, has_constants = false, has_aoti = false, has_pt2 = false;
  for (const std::string& record : records) {
    has_code |= starts_with(record, "code/");
    has_constants |= record == "constants.pkl";
    // The compiled model of a package: data/aotinductor/<model name>/<hash>.so (or .cpp to build).
    if (starts_with(record, "data/aotinductor/")) {
      has_aoti = true;
      const std::string model = record.substr(17, record.find('/', 17) - 17);
      if (!model.empty() && record.find('/', 17) != std::string::npos &&
          std::find(model_file.aoti_models.begin(), model_file.aoti_models.end(), model) == model_file.aoti_models.end()) {
        model_file.aoti_models.push_back(model);
      }
    }
    has_pt2 |= record == "archive_format";
  }
  if (has_code && has_constants) return model_file;
  if (has_aoti) {
    std::sort(model_file.aoti_models.begin(), model_file.aoti_models.end());
    model_file.format = ModelFormat::kAOTInductor;
    return model_file;
  }
  if (has_pt2) {
    throw Error(ErrorCode::kInvalidModel,
                "model file '" + path +
                    "' is a PT2 archive without an AOTInductor-compiled model (a torch.export.save program?); "
                    "compile it with torch._inductor.aoti_compile_and_package, or export with tsrt export --format aoti");
  }
  bool has_pickle = false;
  for (const std::string& record : records) has_pickle |= record == "data.pkl";
  if (has_pickle) {
    throw Error(ErrorCode::kInvalidModel,
                "model file '" + path +
                    "' holds a torch.save checkpoint (weights or a pickled module), not a TorchScript program; "
                    "export the model with torch.jit.save(torch.jit.script(model)) or tsrt export");
  }
  throw Error(ErrorCode::kInvalidModel, "model file '" + path +
                                            "' is a zip archive but neither a TorchScript file nor an AOTInductor "
                                            "package (no code/ or constants.pkl records)");
}

std::string explain_load_failure(const std::string& path, const std::string& torch_message) {
  std::string message = "cannot load model file '" + path + "': " + torch_message;
  const std::string unknown_op = "Unknown builtin op: ";
  const size_t at = torch_message.find(unknown_op);
  if (at != std::string::npos) {
    // "Unknown builtin op: torchvision::nms." -> torchvision::nms
    const size_t begin = at + unknown_op.size();
    size_t end = torch_message.find_first_of(". \n", begin);
    while (end != std::string::npos && torch_message[end] == '.' && end + 1 < torch_message.size() &&
           torch_message[end + 1] != ' ' && torch_message[end + 1] != '\n') {
      end = torch_message.find_first_of(". \n", end + 1);  // an overload name: ns::op.overload
    }
    const std::string op = torch_message.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
    message += "\nThe model calls " + op + ", which no library loaded in this program defines. Load the library " +
               "that registers it before the model: LoadOptions::libraries, infer --load-library PATH, or " +
               "tsrt.load(path, libraries=[PATH]).";
    if (op.rfind("torchvision::", 0) == 0) {
      const std::string library = torchvision_ops_library();
      message += library.empty() ? " tsrt's torchvision operators (libtsrt_torchvision_ops.so) are not installed "
                                   "beside libtsrt; reinstall tsrt."
                                 : " For torchvision's operators tsrt ships one: --load-library " + library;
    }
  } else if (contains(torch_message, "Unknown type name")) {
    message +=
        "\nThe model uses a type from a library that is not loaded. Load that library's .so before the model "
        "(LoadOptions::libraries, infer --load-library PATH).";
  } else if (contains(torch_message, "version") && contains(torch_message, "maximum supported")) {
    message += "\nThe file was written by a newer torch than this libtorch. Re-export it with the torch that tsrt "
               "was built against, or rebuild tsrt against a newer torch.";
  }
  return message;
}

}  // namespace tsrt::detail
