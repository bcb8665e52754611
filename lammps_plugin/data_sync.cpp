/* ----------------------------------------------------------------------
   mdsentry - DataSync without KOKKOS (see data_sync.h); a plugin built with
   -DMDSENTRY_KOKKOS=ON compiles data_sync_kokkos.cpp instead
------------------------------------------------------------------------- */

#include "data_sync.h"

using namespace LAMMPS_NS;

DataSync *LAMMPS_NS::kokkos_data_sync(LAMMPS *)
{
  return nullptr;
}

int LAMMPS_NS::data_sync_has_kokkos()
{
  return 0;
}
