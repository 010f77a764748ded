/// The system libyaml (never a vendored copy: see DESIGN.md).
#ifndef AXINOVA_CLIBYAML_SHIM_H
#define AXINOVA_CLIBYAML_SHIM_H
#include <yaml.h>
#endif
