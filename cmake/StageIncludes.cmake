# spire_check_stage_includes(stage...): fails the configure step when a file of a stage
# includes a header of a stage it does not link (directly or through its dependencies):
# the include graph stays the link graph, which CMake keeps acyclic.
function(_spire_stage_closure target out)
  set(seen ${${out}})
  get_target_property(libs ${target} LINK_LIBRARIES)
  foreach(lib IN LISTS libs)
    if(lib MATCHES "^spire_([a-z]+)$" AND NOT CMAKE_MATCH_1 IN_LIST seen
       AND NOT CMAKE_MATCH_1 STREQUAL "warnings" AND NOT CMAKE_MATCH_1 STREQUAL "arch"
       AND NOT CMAKE_MATCH_1 STREQUAL "fftw" AND NOT CMAKE_MATCH_1 STREQUAL "xsimd")
      list(APPEND seen ${CMAKE_MATCH_1})
      _spire_stage_closure(${lib} seen)
    endif()
  endforeach()
  set(${out} ${seen} PARENT_SCOPE)
endfunction()

function(spire_check_stage_includes)
  foreach(stage IN LISTS ARGN)
    set(allowed ${stage})
    _spire_stage_closure(spire_${stage} allowed)
    file(GLOB files ${CMAKE_CURRENT_SOURCE_DIR}/${stage}/*.hpp ${CMAKE_CURRENT_SOURCE_DIR}/${stage}/*.cpp
         ${CMAKE_CURRENT_SOURCE_DIR}/${stage}/*.cu ${CMAKE_CURRENT_SOURCE_DIR}/${stage}/*.cuh)
    foreach(file IN LISTS files)
      file(STRINGS ${file} includes REGEX "^#include \"[a-z_]+/")
      foreach(line IN LISTS includes)
        string(REGEX MATCH "^#include \"([a-z_]+)/" _ "${line}")
        if(NOT CMAKE_MATCH_1 IN_LIST allowed)
          message(FATAL_ERROR "${file}: ${line}: stage '${stage}' does not depend on '${CMAKE_MATCH_1}' "
                              "(src/CMakeLists.txt lists the layers; an include may not run upward)")
        endif()
      endforeach()
    endforeach()
  endforeach()
endfunction()
