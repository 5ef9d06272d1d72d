// Unit tests of the pytree spec reader that rebuilds an AOTInductor package's
// outputs (cpp/src/pytree_spec.h): structures the zoo's packages do not return
// (int dict keys, lists inside dicts, None), and the specs it must refuse. The
// spec strings are what torch.utils._pytree.treespec_dumps writes.

#include <ATen/ATen.h>

#include <stdexcept>

#include "check.h"
#include "pytree_spec.h"

using tsrt::detail::parse_tree_spec;
using tsrt::detail::TreeSpec;

namespace {

const char* kLeaf = R"({"type": null, "context": null, "children_spec": []})";

std::string node(const std::string& type, const std::string& context, const std::vector<std::string>& children) {
  std::string text = R"({"type": ")" + type + R"(", "context": )" + context + R"(, "children_spec": [)";
  for (size_t i = 0; i < children.size(); ++i) text += (i ? ", " : "") + children[i];
  return text + "]}";
}

std::string spec(const std::string& tree) { return "[1, " + tree + "]"; }

void test_nested_tuple_dict_list() {
  // (t0, {"k": [t1, t2]})
  const TreeSpec tree = parse_tree_spec(spec(node(
      "builtins.tuple", "\"null\"",
      {kLeaf, node("builtins.dict", R"("[\"k\"]")", {node("builtins.list", "\"null\"", {kLeaf, kLeaf})})})));
  TSRT_CHECK(tree.leaf_count() == 3);
  TSRT_CHECK(tree.to_string() == "Tuple[Tensor, Dict[str, ...]]");
  const std::vector<at::Tensor> leaves = {at::zeros({1}), at::ones({2}), at::full({3}, 2.0)};
  size_t next = 0;
  const c10::IValue value = tree.unflatten(leaves, next);
  TSRT_CHECK(next == 3);
  TSRT_CHECK(value.isTuple() && value.toTupleRef().elements().size() == 2);
  const c10::IValue dict = value.toTupleRef().elements()[1];
  TSRT_CHECK(dict.isGenericDict());
  const c10::IValue list = dict.toGenericDict().at(c10::IValue(std::string("k")));
  TSRT_CHECK(list.isTensorList() && list.toTensorList().size() == 2);
  TSRT_CHECK(at::equal(list.toTensorList().get(1), leaves[2]));
}

void test_int_keys_and_none() {
  const TreeSpec tree = parse_tree_spec(spec(node("builtins.dict", R"("[1, 2]")",
                                                   {kLeaf, node("builtins.NoneType", "null", {})})));
  TSRT_CHECK(tree.leaf_count() == 1);
  size_t next = 0;
  const c10::IValue value = tree.unflatten({at::ones({1})}, next);
  TSRT_CHECK(value.toGenericDict().at(c10::IValue(int64_t{1})).isTensor());
  TSRT_CHECK(value.toGenericDict().at(c10::IValue(int64_t{2})).isNone());
}

void test_refusals() {
  bool refused = false;
  try {
    parse_tree_spec(spec(node("collections.namedtuple", R"("\"Point\"")", {kLeaf, kLeaf})));
  } catch (const std::invalid_argument& e) {
    refused = std::string(e.what()).find("collections.namedtuple") != std::string::npos;
  }
  TSRT_CHECK(refused);  // the backend then returns a flat tuple
  const TreeSpec pair = parse_tree_spec(spec(node("builtins.tuple", "\"null\"", {kLeaf, kLeaf})));
  size_t next = 0;
  bool short_outputs = false;
  try {
    pair.unflatten({at::ones({1})}, next);
  } catch (const std::out_of_range&) {
    short_outputs = true;
  }
  TSRT_CHECK(short_outputs);
}

}  // namespace

int main() {
  test_nested_tuple_dict_list();
  test_int_keys_and_none();
  test_refusals();
  std::cout << "test_pytree_spec: all checks passed\n";
  return 0;
}
