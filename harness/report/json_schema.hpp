#pragma once
// A validator for the subset of JSON Schema the report schema uses: type
// (one or a list), required, properties, items, enum, minimum, and $ref to
// "#/$defs/NAME".  Any other keyword in the schema is an error, so that the
// schema cannot quietly ask for a check this validator does not make.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ioduel::harness {

// Each problem as "PATH: what is wrong" (PATH like /workloads/0/name); empty
// when `doc` conforms.  Throws std::invalid_argument for a schema outside the
// subset.
std::vector<std::string> validate_json(const nlohmann::json& doc, const nlohmann::json& schema);

}  // namespace ioduel::harness
