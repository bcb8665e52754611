/* ----------------------------------------------------------------------
   mdsentry - registers pair_style mace (the plugin library linked against
   libtorch; the core plugin with committee and sentry stays torch-free)
------------------------------------------------------------------------- */

#include "lammpsplugin.h"

#include "lammps.h"
#include "pair_mace.h"

using namespace LAMMPS_NS;

#ifndef MDSENTRY_LAMMPS_VERSION
#error "MDSENTRY_LAMMPS_VERSION must name the LAMMPS version the headers belong to"
#endif

static Pair *mace_creator(LAMMPS *lmp)
{
  return new PairMACE(lmp);
}

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  auto reg = (lammpsplugin_regfunc) regfunc;
  lammpsplugin_t plugin;

  plugin.version = MDSENTRY_LAMMPS_VERSION;
  plugin.style = "pair";
  plugin.name = "mace";
  plugin.info = "mdsentry MACE (TorchScript export of mace-torch) on LAMMPS neighbor lists";
  plugin.author = "mdsentry developers";
  plugin.creator.v1 = (lammpsplugin_factory1 *) &mace_creator;
  plugin.handle = handle;
  (*reg)(&plugin, lmp);
}
