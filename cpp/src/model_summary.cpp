#include "tsrt/model_summary.h"

#include <array>
#include <fstream>

#include <unistd.h>

#include "regular_file.h"
#include "tsrt/error.h"

namespace tsrt {

bool reaches_outside_tensors(const std::string& op) {
  // Reads files, talks to the outside, or changes process-wide state.
  static const std::array<const char*, 8> kOutside = {
      "aten::from_file", "prim::Print",       "prim::RaiseException", "aten::warn",
      "aten::manual_seed", "aten::set_num_threads", "aten::set_grad_enabled", "prim::PythonOp",
  };
  for (const char* name : kOutside) {
    if (op == name) return true;
  }
  return op.rfind("aten::", 0) != 0 && op.rfind("prim::", 0) != 0;
}

bool operator_allowed(const std::string& op, const std::vector<std::string>& allow_list) {
  for (const std::string& entry : allow_list) {
    if (entry == op) return true;
    const size_t star = entry.find("::*");
    if (star != std::string::npos && star + 3 == entry.size() && op.compare(0, star + 2, entry, 0, star + 2) == 0) {
      return true;
    }
  }
  return false;
}

std::vector<std::string> read_operator_list(const std::string& path) {
  // A FIFO or device as the list must not block: only a regular file is read.
  try {
    ::close(detail::open_regular_file(path, "operator allow-list"));
  } catch (const Error& e) {
    throw Error(ErrorCode::kIO, std::string("cannot read the operator allow-list: ") + e.what());
  }
  std::ifstream file(path);
  if (!file) throw Error(ErrorCode::kIO, "cannot read the operator allow-list '" + path + "'");
  std::vector<std::string> operators;
  std::string line;
  while (std::getline(file, line)) {
    line = line.substr(0, line.find('#'));
    const size_t start = line.find_first_not_of(" \t\r");
    const size_t end = line.find_last_not_of(" \t\r");
    if (start != std::string::npos) operators.push_back(line.substr(start, end - start + 1));
  }
  return operators;
}

}  // namespace tsrt
