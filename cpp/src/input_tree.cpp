#include "tsrt/input_tree.h"

#include <sstream>

#include "input_check.h"
#include "tsrt/error.h"

namespace tsrt {
namespace {

const char* scalar_name(InputNode::ScalarType type) {
  switch (type) {
    case InputNode::ScalarType::kInt: return "int";
    case InputNode::ScalarType::kFloat: return "float";
    case InputNode::ScalarType::kBool: return "bool";
  }
  return "?";
}

std::string join(const std::vector<std::string>& words) {
  std::string text;
  for (const std::string& word : words) text += (text.empty() ? "" : ", ") + word;
  return text;
}

[[noreturn]] void refuse(const std::string& prefix, const InputNode& node, const std::string& what) {
  throw Error(ErrorCode::kInvalidArgument, prefix + "input '" + node.name + "' " + what);
}

std::string got(const c10::IValue& value) { return "got " + detail::describe_value(value); }

bool same_scalar(const c10::IValue& a, const c10::IValue& b) {
  if (a.isBool() || b.isBool()) return a.isBool() && b.isBool() && a.toBool() == b.toBool();
  if (a.isInt() && b.isInt()) return a.toInt() == b.toInt();
  if ((a.isInt() || a.isDouble()) && (b.isInt() || b.isDouble())) return a.toScalar().toDouble() == b.toScalar().toDouble();
  return false;
}

void check_items(const InputNode& node, const std::vector<InputNode>& items, c10::ArrayRef<c10::IValue> values,
                 const std::string& prefix) {
  for (size_t i = 0; i < items.size(); ++i) check_input_tree(items[i], values[i], prefix);
}

}  // namespace

std::vector<InputNode> InputNode::expanded(size_t count) const {
  if (!variable_length) return items;
  std::vector<InputNode> out;
  for (size_t i = 0; i < count; ++i) {
    InputNode item = items.at(0);
    // The element's paths are "<list>.*..."; each item's are "<list>.<i>...".
    std::function<void(InputNode&)> rename = [&](InputNode& n) {
      n.name = name + "." + std::to_string(i) + n.name.substr(std::min(n.name.size(), name.size() + 2));
      n.spec.name = n.name;
      for (InputNode& child : n.items) rename(child);
    };
    rename(item);
    out.push_back(std::move(item));
  }
  return out;
}

std::vector<TensorSpec> InputNode::leaves() const {
  if (kind == Kind::kTensor) return {spec};
  std::vector<TensorSpec> out;
  for (const InputNode& item : expanded(length)) {
    for (TensorSpec& leaf : item.leaves()) out.push_back(std::move(leaf));
  }
  return out;
}

std::string InputNode::type_string() const {
  switch (kind) {
    case Kind::kTensor: return "Tensor";
    case Kind::kScalar: return scalar_name(scalar_type);
    case Kind::kNone: return "None";
    case Kind::kList:
      if (variable_length) return "List[" + items.at(0).type_string() + "]";
      [[fallthrough]];
    case Kind::kTuple:
    case Kind::kDict: {
      std::vector<std::string> types;
      for (const InputNode& item : items) types.push_back(item.type_string());
      if (kind == Kind::kDict) {
        bool one = !types.empty() && std::all_of(types.begin(), types.end(), [&](const auto& t) { return t == types[0]; });
        return "Dict[str, " + (one ? types[0] : std::string("Any")) + "]";
      }
      return std::string(kind == Kind::kTuple ? "Tuple[" : "List[") + join(types) + "]";
    }
  }
  return "?";
}

std::string InputNode::value_string() const {
  if (kind == Kind::kNone) return "None";
  if (kind != Kind::kScalar) return type_string();
  if (value.isBool()) return value.toBool() ? "True" : "False";
  if (value.isInt()) return std::to_string(value.toInt());
  if (value.isDouble()) {
    std::ostringstream text;
    text << value.toDouble();
    // As Python prints a float: 2.0, not 2.
    const std::string printed = text.str();
    return printed.find_first_of(".eEn") == std::string::npos ? printed + ".0" : printed;
  }
  return "?";
}

void check_input_tree(const InputNode& node, const c10::IValue& value, const std::string& prefix) {
  switch (node.kind) {
    case InputNode::Kind::kTensor:
      if (!value.isTensor()) refuse(prefix, node, "expects a tensor " + node.spec.to_string() + ", " + got(value));
      detail::check_tensor(node.spec, value.toTensor(), prefix);
      return;
    case InputNode::Kind::kNone:
      if (node.fixed && !value.isNone()) {
        refuse(prefix, node, "was None at export and the trace fixed it, " + got(value) +
                                 "; export with mode='script' to pass a value");
      }
      return;  // a scripted Optional[...] argument takes None or a value; TorchScript checks its type
    case InputNode::Kind::kScalar: {
      const bool fits = node.scalar_type == InputNode::ScalarType::kBool ? value.isBool()
                        : node.scalar_type == InputNode::ScalarType::kInt ? value.isInt()
                                                                          : value.isDouble();
      if (!fits) refuse(prefix, node, std::string("expects ") + scalar_name(node.scalar_type) + ", " + got(value));
      if (node.fixed && !same_scalar(node.value, value)) {
        refuse(prefix, node, "was fixed to " + node.value_string() + " at export (a trace cannot take a " +
                                 scalar_name(node.scalar_type) + " argument), " + got(value) +
                                 "; export with mode='script' to make it an argument");
      }
      return;
    }
    case InputNode::Kind::kDict: {
      if (!value.isGenericDict()) refuse(prefix, node, "expects a " + node.type_string() + " with keys " + join(node.keys) + ", " + got(value));
      const c10::Dict<c10::IValue, c10::IValue> dict = value.toGenericDict();
      for (const auto& entry : dict) {
        if (!entry.key().isString() || std::find(node.keys.begin(), node.keys.end(), entry.key().toStringRef()) == node.keys.end()) {
          refuse(prefix, node, "has key " + (entry.key().isString() ? "'" + entry.key().toStringRef() + "'" : detail::describe_value(entry.key())) +
                                   ", which the model does not take (keys: " + join(node.keys) + ")");
        }
      }
      for (size_t i = 0; i < node.keys.size(); ++i) {
        auto found = dict.find(node.keys[i]);
        if (found == dict.end()) refuse(prefix, node, "lacks key '" + node.keys[i] + "' (keys: " + join(node.keys) + ")");
        check_input_tree(node.items[i], found->value(), prefix);
      }
      return;
    }
    case InputNode::Kind::kTuple: {
      if (!value.isTuple()) refuse(prefix, node, "expects a " + node.type_string() + ", " + got(value));
      const auto& elements = value.toTupleRef().elements();
      if (elements.size() != node.items.size()) {
        refuse(prefix, node, "expects a tuple of " + std::to_string(node.items.size()) + " items, got " +
                                 std::to_string(elements.size()));
      }
      check_items(node, node.items, elements, prefix);
      return;
    }
    case InputNode::Kind::kList: {
      if (!value.isList()) refuse(prefix, node, "expects a " + node.type_string() + ", " + got(value));
      const c10::ArrayRef<c10::IValue> elements = value.toListRef();
      if (!node.variable_length && elements.size() != node.items.size()) {
        refuse(prefix, node, "expects a list of " + std::to_string(node.items.size()) + " items (the trace fixed its " +
                                 "length; export with mode='script' for a list that varies), got " +
                                 std::to_string(elements.size()));
      }
      if (node.variable_length && elements.empty()) refuse(prefix, node, "expects a list of at least one item, got an empty list");
      check_items(node, node.expanded(elements.size()), elements, prefix);
      return;
    }
  }
}

c10::IValue build_input(const InputNode& node, const std::function<at::Tensor(const TensorSpec&)>& leaf) {
  switch (node.kind) {
    case InputNode::Kind::kTensor: return leaf(node.spec);
    case InputNode::Kind::kNone: return c10::IValue();
    case InputNode::Kind::kScalar: return node.value;
    case InputNode::Kind::kDict: {
      // Typed as the traced/scripted graph expects: Dict[str, Tensor] when every value is a tensor.
      std::vector<c10::IValue> values;
      c10::TypePtr value_type;
      for (const InputNode& item : node.items) {
        values.push_back(build_input(item, leaf));
        c10::TypePtr type = c10::unshapedType(values.back().type());
        value_type = value_type ? c10::unifyTypes(value_type, type).value_or(c10::AnyType::get()) : type;
      }
      c10::impl::GenericDict dict(c10::StringType::get(), value_type ? value_type : c10::TensorType::get());
      for (size_t i = 0; i < values.size(); ++i) dict.insert(node.keys[i], values[i]);
      return dict;
    }
    case InputNode::Kind::kTuple: {
      std::vector<c10::IValue> values;
      for (const InputNode& item : node.items) values.push_back(build_input(item, leaf));
      return c10::ivalue::Tuple::create(std::move(values));
    }
    case InputNode::Kind::kList: {
      std::vector<c10::IValue> values;
      for (const InputNode& item : node.expanded(node.length)) values.push_back(build_input(item, leaf));
      c10::TypePtr type = values.empty() ? c10::TensorType::get() : c10::unshapedType(values.front().type());
      c10::impl::GenericList list(type);
      for (auto& v : values) list.push_back(std::move(v));
      return list;
    }
  }
  return c10::IValue();
}

c10::IValue input_from_leaves(const InputNode& node, const std::vector<at::Tensor>& leaves, size_t& next) {
  return build_input(node, [&](const TensorSpec& spec) {
    if (next >= leaves.size()) {
      throw Error(ErrorCode::kInvalidModel, "input '" + node.name + "': the golden pair has " +
                                                std::to_string(leaves.size()) + " tensors, too few for leaf '" +
                                                spec.name + "'");
    }
    return leaves[next++];
  });
}

c10::IValue random_input(const InputNode& node, uint64_t seed, uint64_t max_bytes) {
  return build_input(node, [&](const TensorSpec& spec) { return random_tensor(spec, seed++, max_bytes); });
}

}  // namespace tsrt
