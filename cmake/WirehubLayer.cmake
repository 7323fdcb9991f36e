# wirehub_layer(NAME [DEPS layer...] [LIBS target...])
#
# Declares src/<NAME> as the static library wirehub_<NAME>. Layers include each other as
# "<layer>/file.hpp". The include root of a layer is a folder in the build tree holding a
# single symlink <layer> -> src/<layer>, and it is a PUBLIC include directory of that
# layer's target only. So a layer sees exactly the headers of itself and of the layers it
# links (transitively); an include that points up the stack fails to compile.
set(WIREHUB_WARNINGS -Wall -Wextra -Werror -Wshadow -Wnon-virtual-dtor -Wold-style-cast
    -Woverloaded-virtual -Wimplicit-fallthrough)
# GCC 12 reports impossible memcpy overlaps inside libstdc++'s std::string at -O2/-O3
# (GCC bug 105651, fixed in 13); it fires on ordinary string appends in our tests.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  list(APPEND WIREHUB_WARNINGS -Wno-restrict)
endif()

function(wirehub_layer name)
  cmake_parse_arguments(L "" "" "DEPS;LIBS" ${ARGN})
  set(root ${CMAKE_BINARY_DIR}/layers/${name})
  file(MAKE_DIRECTORY ${root})
  file(CREATE_LINK ${CMAKE_SOURCE_DIR}/src/${name} ${root}/${name} SYMBOLIC)
  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/${name}/*.cpp)
  if(sources)
    add_library(wirehub_${name} STATIC ${sources})
    target_compile_options(wirehub_${name} PRIVATE ${WIREHUB_WARNINGS})
    set_target_properties(wirehub_${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
    set(scope PUBLIC)
  else()
    add_library(wirehub_${name} INTERFACE)  # headers only, so far
    set(scope INTERFACE)
  endif()
  target_include_directories(wirehub_${name} ${scope} ${root})
  foreach(dep IN LISTS L_DEPS)
    target_link_libraries(wirehub_${name} ${scope} wirehub_${dep})
  endforeach()
  if(L_LIBS)
    target_link_libraries(wirehub_${name} ${scope} ${L_LIBS})
  endif()
endfunction()
