/* -*- c++ -*- ----------------------------------------------------------
   mdsentry - a ghost cutoff raised for as long as a style exists

   Styles whose reach exceeds the pair cutoff (pair_style mace's ghost graph,
   fix qeq/field's QEq kernel) raise comm_modify cutoff, remember the user's
   value and give it back when they are deleted -- unless someone changed it since.
------------------------------------------------------------------------- */

#ifndef MDSENTRY_GHOST_CUTOFF_H
#define MDSENTRY_GHOST_CUTOFF_H

#include "comm.h"

namespace LAMMPS_NS {

class GhostCutoff {
 public:
  // true if the cutoff was raised now
  bool raise(Comm *comm, double need)
  {
    if (comm->cutghostuser >= need) return false;
    if (!raised || comm->cutghostuser != set) user = comm->cutghostuser;
    set = comm->cutghostuser = need;
    raised = true;
    return true;
  }
  void restore(Comm *comm) const
  {
    if (raised && comm->cutghostuser == set) comm->cutghostuser = user;
  }

 private:
  double user = 0.0, set = 0.0;
  bool raised = false;
};

}    // namespace LAMMPS_NS

#endif
