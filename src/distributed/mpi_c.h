// <mpi.h> with only the C API: Open MPI's deprecated C++ bindings would otherwise be compiled
// into every includer and need libmpi_cxx at link time.
#pragma once

#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>  // NOLINT: the one direct include
