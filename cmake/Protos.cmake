# attnlab_protos(TARGET PATH...): generates C++ for each PATH.proto (relative to the calling
# directory, without the extension) and adds it to TARGET. protoc runs from the repository root,
# so the generated code is included as "<dir>/<name>.pb.h" (e.g. "recipes/run/checkpoint.pb.h"),
# like every other header.
function(attnlab_protos target)
  set(_generated)
  set(_proto_files)
  foreach(_path ${ARGN})
    set(_proto ${CMAKE_CURRENT_SOURCE_DIR}/${_path}.proto)
    file(RELATIVE_PATH _rel ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR}/${_path})
    list(APPEND _generated ${PROJECT_BINARY_DIR}/${_rel}.pb.h ${PROJECT_BINARY_DIR}/${_rel}.pb.cc)
    list(APPEND _proto_files ${_proto})
  endforeach()
  add_custom_command(
    OUTPUT ${_generated}
    COMMAND protobuf::protoc -I ${PROJECT_SOURCE_DIR} --cpp_out=${PROJECT_BINARY_DIR} ${_proto_files}
    DEPENDS ${_proto_files} protobuf::protoc
    COMMENT "Generating C++ from ${ARGN}"
    VERBATIM)
  # A custom target orders the generation before anything of TARGET compiles, also when TARGET
  # is defined in another directory (a directory's custom command is not attached there).
  file(RELATIVE_PATH _dir ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR})
  string(REPLACE "/" "_" _stem "${_dir}")
  add_custom_target(attnlab_protos_${_stem} DEPENDS ${_generated})
  add_dependencies(${target} attnlab_protos_${_stem})
  target_sources(${target} PRIVATE ${_generated})
  target_link_libraries(${target} PUBLIC protobuf::libprotobuf)
endfunction()
