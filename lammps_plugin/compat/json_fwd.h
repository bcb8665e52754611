// The 2025.7.22.2 wheel's atom.h includes json_fwd.h but does not ship it.
// A plugin never touches the json type, so a forward declaration suffices.
#ifndef MDSENTRY_JSON_FWD_H
#define MDSENTRY_JSON_FWD_H
namespace nlohmann_lmp { template <typename...> class basic_json; }
namespace LAMMPS_NS { using json = nlohmann_lmp::basic_json<>; }
#endif
