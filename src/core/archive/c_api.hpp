// What the archive's C API files share: the settings behind a tresor_config
// (tresor.h), which c_api.cpp owns.
#pragma once

#include "archive/config.hpp"

struct tresor_config;

namespace tresor {

// The settings of cfg, the defaults for NULL.
const Config &config_of(const tresor_config *cfg);

} // namespace tresor
