// What the viewer may do in an organization. The API gives only the viewer's role today, so this is
// the one place that reads it; permission flags from the API will replace these answers.

const ADMIN = "ORGANIZATION_ADMIN";

export const may = {
  manageMembers: (org) => org.viewerRole === ADMIN && org.type === "TEAM",
  invite: (org) => org.viewerRole === ADMIN && org.type === "TEAM",
  rename: (org) => org.viewerRole === ADMIN,
  manageBilling: (org) => org.viewerRole === ADMIN,
  manageProjects: (org) => org.viewerRole === ADMIN,
  // a Project Admin manages the keys of their project; an Org Admin is admin of every project
  manageKeys: (org, project) => org.viewerRole === ADMIN || project.viewerRole === "PROJECT_ADMIN",
  manageProjectMembers: (org, project) => org.viewerRole === ADMIN || project.viewerRole === "PROJECT_ADMIN",
};
