/* ----------------------------------------------------------------------
   mdsentry - registers the plugin's styles with LAMMPS (plugin load ...)
------------------------------------------------------------------------- */

#include "lammpsplugin.h"

#include "fix_qeq_field.h"
#include "fix_sentry.h"
#include "lammps.h"
#include "pair_committee.h"

using namespace LAMMPS_NS;

#ifndef MDSENTRY_LAMMPS_VERSION
#error "MDSENTRY_LAMMPS_VERSION must name the LAMMPS version the headers belong to"
#endif

static Pair *committee_creator(LAMMPS *lmp)
{
  return new PairCommittee(lmp);
}

static Fix *sentry_creator(LAMMPS *lmp, int argc, char **argv)
{
  return new FixSentry(lmp, argc, argv);
}

static Fix *qeq_field_creator(LAMMPS *lmp, int argc, char **argv)
{
  return new FixQEqField(lmp, argc, argv);
}

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  auto reg = (lammpsplugin_regfunc) regfunc;
  lammpsplugin_t plugin;

  plugin.version = MDSENTRY_LAMMPS_VERSION;
  plugin.style = "pair";
  plugin.name = "committee";
  plugin.info = "mdsentry committee of pair styles with model deviation";
  plugin.author = "mdsentry developers";
  plugin.creator.v1 = (lammpsplugin_factory1 *) &committee_creator;
  plugin.handle = handle;
  (*reg)(&plugin, lmp);

  plugin.style = "fix";
  plugin.name = "sentry";
  plugin.info = "mdsentry extrapolation watch: candidates between lo and hi, halt above hi";
  plugin.creator.v2 = (lammpsplugin_factory2 *) &sentry_creator;
  (*reg)(&plugin, lmp);

  plugin.name = "qeq/field";
  plugin.info = "mdsentry electric field + charge equilibration on top of any ML potential";
  plugin.creator.v2 = (lammpsplugin_factory2 *) &qeq_field_creator;
  (*reg)(&plugin, lmp);
}
