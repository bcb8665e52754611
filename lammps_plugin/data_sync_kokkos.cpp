/* ----------------------------------------------------------------------
   mdsentry - DataSync over AtomKokkos (see data_sync.h). Compiled only with
   -DMDSENTRY_KOKKOS=ON against a LAMMPS source tree with the KOKKOS package,
   in place of data_sync.cpp.
------------------------------------------------------------------------- */

#include "data_sync.h"

#include "atom_kokkos.h"
#include "lammps.h"

using namespace LAMMPS_NS;

namespace {
class AtomKokkosSync : public DataSync {
 public:
  explicit AtomKokkosSync(LAMMPS *l) : lmp(l) {}
  // lmp->atom is looked up at each call: atom_style and read_restart replace it
  void sync(ExecutionSpace space, DataMask mask) override { atomKK()->sync(space, mask); }
  void modified(ExecutionSpace space, DataMask mask) override
  {
    atomKK()->modified(space, mask);
  }

 private:
  LAMMPS *lmp;
  AtomKokkos *atomKK() const { return static_cast<AtomKokkos *>(lmp->atom); }
};
}    // namespace

DataSync *LAMMPS_NS::kokkos_data_sync(LAMMPS *lmp)
{
  // -k off (or no -k): LAMMPS's atom is a plain Atom with host arrays only
  if (!lmp->kokkos) return nullptr;
  return new AtomKokkosSync(lmp);
}

int LAMMPS_NS::data_sync_has_kokkos()
{
  return 1;
}
