// What the viewer may do: the API's permission flags (`viewerCan`), asked for with these fragments.
// The console keeps no copy of the role table; it only reads the flags.

export const ORGANIZATION_FIELDS = `id organizationId name type viewerRole createdAt
  viewerCan { rename manageMembers invite manageBilling buyCredits subscribe createProject viewAllUsage }`;
export const PROJECT_CAN = "viewerCan { manageKeys manageMembers setRateLimits rename archive }";

export const may = {
  manageMembers: (org) => org.viewerCan.manageMembers,
  invite: (org) => org.viewerCan.invite,
  rename: (org) => org.viewerCan.rename,
  manageBilling: (org) => org.viewerCan.manageBilling,
  createProject: (org) => org.viewerCan.createProject,
  manageKeys: (project) => project.viewerCan.manageKeys,
  manageProjectMembers: (project) => project.viewerCan.manageMembers,
  setRateLimits: (project) => project.viewerCan.setRateLimits,
  archive: (project) => project.viewerCan.archive,
};
